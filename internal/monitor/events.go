package monitor

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/partflow/partflow/internal/state"
)

// Event stream tuning.
const (
	flushInterval      = 500 * time.Millisecond // a stream sends at most one batch per interval
	heartbeatInterval  = 15 * time.Second       // keeps proxies from closing an idle stream
	maxPending         = 200                    // distinct uploads per batch; more become one "refresh"
	subscriberBuffer   = 512
	streamWriteTimeout = 10 * time.Second
)

// event is one progress event from state.EventsChannel; only what routing needs is decoded.
type event struct {
	Upload    string `json:"upload"`
	Migration string `json:"migration"`
	raw       string
}

// subscriber is one open event stream.
type subscriber struct {
	migration string // only events of this migration; "" for all
	upload    string // only events of this upload; "" for all
	ch        chan event
	mu        sync.Mutex
	overflow  bool // events were dropped: the stream tells the page to refresh
}

func (s *subscriber) wants(e event) bool {
	return (s.migration == "" || s.migration == e.Migration) && (s.upload == "" || s.upload == e.Upload)
}

// hub fans one Redis Pub/Sub subscription out to every open event stream. It subscribes when
// the first stream opens and stays subscribed until close.
type hub struct {
	rdb redis.UniversalClient
	log *slog.Logger

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	cancel context.CancelFunc // of the running subscription; nil before the first stream
	ps     *redis.PubSub      // the running subscription
	closed bool
	done   chan struct{} // closed when the subscription goroutine has ended
}

func newHub(rdb redis.UniversalClient, log *slog.Logger) *hub {
	return &hub{rdb: rdb, log: log, subs: map[*subscriber]struct{}{}}
}

// subscribe registers a stream; it returns nil once the hub is closed.
func (h *hub) subscribe(migration, upload string) *subscriber {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	if h.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.cancel, h.done = cancel, make(chan struct{})
		h.ps = h.rdb.Subscribe(ctx, state.EventsChannel)
		// Wait for Redis to confirm, so the first stream misses nothing published after it opened.
		wait, cancelWait := context.WithTimeout(ctx, 5*time.Second)
		if _, err := h.ps.Receive(wait); err != nil {
			h.log.Warn("EventsSubscribeFailed", "channel", state.EventsChannel, "error", err)
		}
		cancelWait()
		go h.run(ctx, h.ps)
	}
	s := &subscriber{migration: migration, upload: upload, ch: make(chan event, subscriberBuffer)}
	h.subs[s] = struct{}{}
	return s
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

// close ends the subscription and waits for its goroutine.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	cancel, ps, done := h.cancel, h.ps, h.done
	h.mu.Unlock()
	if cancel != nil {
		cancel()
		_ = ps.Close() // unblocks a receive in progress
		<-done
	}
}

// run receives events until ctx ends. go-redis reconnects and resubscribes by itself; events
// published meanwhile are lost, which the pages make up for by polling.
func (h *hub) run(ctx context.Context, ps *redis.PubSub) {
	defer close(h.done)
	for {
		msg, err := ps.ReceiveMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			h.log.Warn("EventsReceiveFailed", "channel", state.EventsChannel, "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		var e event
		if err := json.Unmarshal([]byte(msg.Payload), &e); err != nil {
			continue
		}
		e.raw = msg.Payload
		h.dispatch(e)
	}
}

func (h *hub) dispatch(e event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if !s.wants(e) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			s.mu.Lock()
			s.overflow = true
			s.mu.Unlock()
		}
	}
}

// GET /events?migration=ID or ?upload=ID: Server-Sent Events. Each "upload" event is the JSON
// progress event of one upload (the latest per upload within a batch); a "refresh" event
// says that events were dropped and the page should reload its data.
func (m *Monitor) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	migration, upload := q.Get("migration"), q.Get("upload")
	if migration != "" {
		if err := state.ValidateMigrationID(migration); err != nil {
			writeText(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if upload != "" {
		if _, err := state.ParseUploadID(upload); err != nil {
			writeText(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	select {
	case <-m.stop:
		writeText(w, http.StatusServiceUnavailable, "the monitor is shutting down")
		return
	default:
	}
	sub := m.hub.subscribe(migration, upload)
	if sub == nil {
		writeText(w, http.StatusServiceUnavailable, "the monitor is shutting down")
		return
	}
	defer m.hub.unsubscribe(sub)

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	send := func(chunks ...string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		for _, c := range chunks {
			if _, err := w.Write([]byte(c)); err != nil {
				return false
			}
		}
		return rc.Flush() == nil
	}
	// Reconnect after 3 s when the stream breaks; say hello so the page knows it is live.
	if !send("retry: 3000\n\n", "event: hello\ndata: {}\n\n") {
		return
	}

	flush := time.NewTicker(flushInterval)
	defer flush.Stop()
	heartbeat := time.NewTicker(heartbeatInterval)
	defer heartbeat.Stop()
	pending := map[string]string{}
	var order []string
	for {
		select {
		case <-r.Context().Done():
			return
		case <-m.stop:
			return
		case e := <-sub.ch:
			if _, ok := pending[e.Upload]; !ok {
				order = append(order, e.Upload)
			}
			pending[e.Upload] = e.raw
		case <-flush.C:
			sub.mu.Lock()
			overflow := sub.overflow || len(pending) > maxPending
			sub.overflow = false
			sub.mu.Unlock()
			var chunks []string
			if overflow {
				chunks = append(chunks, "event: refresh\ndata: {}\n\n")
			} else {
				for _, id := range order {
					chunks = append(chunks, "event: upload\ndata: "+pending[id]+"\n\n")
				}
			}
			clear(pending)
			order = order[:0]
			if len(chunks) > 0 && !send(chunks...) {
				return
			}
		case <-heartbeat.C:
			if !send(": keep-alive\n\n") {
				return
			}
		}
	}
}
