package monitor_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
)

// sse is an open event stream.
type sse struct {
	res    *http.Response
	events chan [2]string // event name, data
}

func (b *bundle) openEvents(t *testing.T, query string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.srv.URL+"/events"+query, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = res.Body.Close() })
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	s := &sse{res: res, events: make(chan [2]string, 1000)}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(res.Body)
		var name, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if name != "" || data != "" {
					s.events <- [2]string{name, data}
				}
				name, data = "", ""
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	s.next(t, "hello")
	return s
}

// next waits for the next event called name, skipping others.
func (s *sse) next(t *testing.T, name string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-s.events:
			require.True(t, ok, "the stream ended while waiting for a %q event", name)
			if e[0] == name {
				return e[1]
			}
		case <-deadline:
			t.Fatalf("no %q event within 10s", name)
		}
	}
}

type progressEvent struct {
	Upload    string `json:"upload"`
	Migration string `json:"migration"`
	State     string `json:"state"`
	PartsDone int    `json:"parts_done"`
	Parts     int    `json:"parts"`
}

func TestEventsStreamProgress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid, ids := b.newMigration(t, 2)
	other, otherIDs := b.newMigration(t, 1)

	all := b.openEvents(t, "")
	mine := b.openEvents(t, "?migration="+mid)
	one := b.openEvents(t, "?upload="+ids[1].String())

	b.plan(t, otherIDs[0], 2) // another migration: only the unfiltered stream sees it
	b.plan(t, ids[0], 3)
	_, err := b.store.RecordPart(b.ctx, ids[0], b.fence(t, ids[0]), 1, "e1", 5<<20)
	require.NoError(t, err)
	_, err = b.store.RecordPart(b.ctx, ids[0], b.fence(t, ids[0]), 2, "e2", 5<<20)
	require.NoError(t, err)
	b.plan(t, ids[1], 1)

	var e progressEvent
	require.NoError(t, json.Unmarshal([]byte(all.next(t, "upload")), &e))
	require.Equal(t, other, e.Migration)

	// Events of one upload within a batch are coalesced to the latest; the order of uploads is kept.
	seen := map[string]progressEvent{}
	for len(seen) < 2 || seen[ids[0].String()].PartsDone < 2 {
		require.NoError(t, json.Unmarshal([]byte(mine.next(t, "upload")), &e))
		require.Equal(t, mid, e.Migration)
		seen[e.Upload] = e
	}
	require.Equal(t, progressEvent{Upload: ids[0].String(), Migration: mid, State: "uploading", PartsDone: 2, Parts: 3}, seen[ids[0].String()])

	require.NoError(t, json.Unmarshal([]byte(one.next(t, "upload")), &e))
	require.Equal(t, ids[1].String(), e.Upload)
	require.Equal(t, "uploading", e.State)

	res, body := b.do(t, request{path: "/events?migration=BAD!"})
	require.Equal(t, http.StatusBadRequest, res.StatusCode, body)
	res, body = b.do(t, request{path: "/events?upload=nope"})
	require.Equal(t, http.StatusBadRequest, res.StatusCode, body)
}

// StopStreams (the server's shutdown hook) ends open streams, so a graceful shutdown does not
// wait for them.
func TestStopStreamsEndsStreams(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.openEvents(t, "")
	b.mon.StopStreams()
	select {
	case _, ok := <-s.events:
		for ok {
			_, ok = <-s.events
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the event stream did not end after StopStreams")
	}
	res, _ := b.do(t, request{path: "/events"})
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
}

// Many events between two flushes become one "refresh" instead of flooding the page.
func TestEventsOverflowBecomesRefresh(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.openEvents(t, "")
	pipe := b.rdb.Pipeline()
	for i := range 3000 {
		id := state.UploadID{Migration: "m1", Name: strings.Repeat("0", 12) + hex4(i)}
		pipe.Publish(b.ctx, state.EventsChannel, `{"upload":"`+id.String()+`","migration":"m1","state":"uploading"}`)
	}
	_, err := pipe.Exec(b.ctx)
	require.NoError(t, err)
	s.next(t, "refresh")
}

func hex4(i int) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[i>>12&15], digits[i>>8&15], digits[i>>4&15], digits[i&15]})
}
