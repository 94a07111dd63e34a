package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/internal/tracing"
)

// span is one exported span, as the OTLP receiver decoded it.
type span struct {
	service, name           string
	traceID, spanID, parent string
	failed                  bool // status error
	events                  []string
	attrs                   map[string]string
	start, end              time.Time
}

func (s span) String() string {
	return fmt.Sprintf("%s/%s %s parent=%s failed=%v events=%v", s.service, s.name, s.spanID, s.parent, s.failed, s.events)
}

// otlpReceiver is an OTLP/HTTP traces endpoint that keeps what it is sent.
type otlpReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []span
	bad   []string // requests it could not decode
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	var msg coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &msg)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || req.URL.Path != "/v1/traces" {
		r.bad = append(r.bad, fmt.Sprintf("%s %s: %v", req.Method, req.URL.Path, err))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	for _, rs := range msg.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				r.spans = append(r.spans, decodeSpan(service, sp))
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func decodeSpan(service string, sp *tracepb.Span) span {
	s := span{service: service, name: sp.GetName(), traceID: hex.EncodeToString(sp.GetTraceId()),
		spanID: hex.EncodeToString(sp.GetSpanId()), parent: hex.EncodeToString(sp.GetParentSpanId()),
		failed: sp.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR, attrs: map[string]string{},
		start: time.Unix(0, int64(sp.GetStartTimeUnixNano())), end: time.Unix(0, int64(sp.GetEndTimeUnixNano()))}
	for _, ev := range sp.GetEvents() {
		s.events = append(s.events, ev.GetName())
	}
	for _, kv := range sp.GetAttributes() {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			s.attrs[kv.GetKey()] = v.GetStringValue()
		default:
			s.attrs[kv.GetKey()] = fmt.Sprint(v.GetIntValue())
		}
	}
	return s
}

// trace returns the spans received so far of trace id.
func (r *otlpReceiver) trace(id string) []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []span
	for _, s := range r.spans {
		if s.traceID == id {
			out = append(out, s)
		}
	}
	return out
}

func named(spans []span, name string) []span {
	var out []span
	for _, s := range spans {
		if s.name == name {
			out = append(out, s)
		}
	}
	return out
}

func childrenOf(spans []span, parent span, name string) []span {
	var out []span
	for _, s := range named(spans, name) {
		if s.parent == parent.spanID {
			out = append(out, s)
		}
	}
	return out
}

// TestTraceAcrossProcesses: with OTEL_EXPORTER_OTLP_ENDPOINT set, a 3-part upload put by the
// enqueuer process and run by a worker process is one trace: the enqueue, the start task
// under it, every part task under the start task (part 2 twice, its first attempt failed by
// the S3 proxy and marked for retry), the finalizer (inline) under the last part; each task with its
// queue wait, S3 requests, source reads and Redis scripts; and the upload record and the
// worker's log lines carry the trace ID.
func TestTraceAcrossProcesses(t *testing.T) {
	t.Parallel()
	recv := newOTLPReceiver(t)
	s := newStack(t)
	proxy := testenv.NewProxy(t, s.s3.Endpoint)
	var failed atomic.Bool
	proxy.SetFault(func(r testenv.Request) testenv.Fault {
		if r.Op == testenv.OpUploadPart && r.PartNumber == 2 && failed.CompareAndSwap(false, true) {
			// A 400 that minio-go does not retry itself and partflow does: the task retries.
			return testenv.Fault{Status: http.StatusBadRequest, Code: "BadDigest"}
		}
		return testenv.Fault{}
	})
	s.extraEnv = []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + recv.srv.URL, "OTEL_BSP_SCHEDULE_DELAY=100",
		"PARTFLOW_S3_ENDPOINT=" + proxy.URL()}
	s.startWorker(t, "worker", "--concurrency", "4")
	sum := s.writeFile(t, "big.bin", 15*mib)

	r := s.enqueuer(t, "put", "--source", "big.bin", "--bucket", s.bucket, "--key", "traced.bin",
		"--part-size", "5MiB", "--wait", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, sum, s.objectSHA256(t, "traced.bin"))
	require.True(t, failed.Load(), "the proxy failed the first attempt at part 2")

	// The upload record remembers its trace.
	var st struct {
		ID      string `json:"id"`
		TraceID string `json:"trace_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st), r.stdout)
	id, err := state.ParseUploadID(st.ID)
	require.NoError(t, err)
	store, err := state.New(s.rdb(t), state.Config{})
	require.NoError(t, err)
	u, err := store.GetUpload(context.Background(), id)
	require.NoError(t, err)
	require.Len(t, u.TraceID, 32, "the upload record holds its trace ID")
	require.Equal(t, u.TraceID, st.TraceID, "the enqueuer's output names the trace, to join it with the logs")

	var spans []span
	require.Eventually(t, func() bool {
		spans = recv.trace(u.TraceID)
		return len(named(spans, tracing.QueueWaitSpan)) >= 4 && len(named(spans, "upload:finalize")) >= 1 &&
			len(named(spans, "upload:part")) >= 4
	}, 30*time.Second, 50*time.Millisecond, "the worker's spans of the upload's trace reach the receiver")
	for _, sp := range spans {
		t.Log(sp)
	}
	recv.mu.Lock()
	require.Empty(t, recv.bad, "every export decodes as OTLP/HTTP protobuf")
	recv.mu.Unlock()

	enq := named(spans, "enqueue upload")
	require.Len(t, enq, 1, "the enqueuer's span of the upload")
	require.Equal(t, "partflow-enqueuer", enq[0].service)
	require.Empty(t, enq[0].parent, "the enqueue is the root of the upload's trace")
	require.Equal(t, st.ID, enq[0].attrs["partflow.upload_id"])

	start := childrenOf(spans, enq[0], "upload:start")
	require.Len(t, start, 1, "the start task continues the enqueuer's span, across processes")
	require.Equal(t, "partflow-worker", start[0].service)
	require.NotEmpty(t, childrenOf(spans, start[0], "source stat"), "the start task's source stat")
	require.NotEmpty(t, childrenOf(spans, start[0], "S3 CreateMultipartUpload"), "the start task's S3 request")

	parts := childrenOf(spans, start[0], "upload:part")
	require.Len(t, parts, 4, "three part tasks under the start task, part 2 twice")
	byPart := map[string][]span{}
	for _, p := range parts {
		n := strings.TrimPrefix(p.attrs["messaging.message.id"], st.ID+":part:")
		byPart[n] = append(byPart[n], p)
		require.Len(t, childrenOf(spans, p, "source read"), 1, "part %s reads its source once", n)
		require.Len(t, childrenOf(spans, p, "S3 UploadPart"), 1, "part %s sends one UploadPart", n)
	}
	require.Len(t, byPart["1"], 1)
	require.Len(t, byPart["3"], 1)
	require.Len(t, byPart["2"], 2, "part 2 ran twice")
	first, retry := byPart["2"][0], byPart["2"][1]
	if first.attrs["partflow.task.attempt"] != "1" {
		first, retry = retry, first
	}
	require.True(t, first.failed, "the failed attempt's span says so")
	require.Contains(t, first.events, "exception", "the failed attempt records its error")
	require.Contains(t, first.events, "TaskRetry", "the failed attempt says it will be retried")
	require.Equal(t, "2", retry.attrs["partflow.task.attempt"])
	require.False(t, retry.failed, "the retry succeeded")
	require.True(t, childrenOf(spans, first, "S3 UploadPart")[0].failed, "the refused UploadPart is an error span")
	for _, p := range []span{byPart["1"][0], first, byPart["3"][0]} {
		require.Len(t, childrenOf(spans, p, tracing.QueueWaitSpan), 1, "a first attempt has its queue wait")
	}
	require.Empty(t, childrenOf(spans, retry, tracing.QueueWaitSpan), "a retry has no queue wait of its own")

	fin := named(spans, "upload:finalize")
	require.Len(t, fin, 1)
	require.True(t, fin[0].parent == byPart["1"][0].spanID || fin[0].parent == retry.spanID ||
		fin[0].parent == byPart["3"][0].spanID, "the finalizer (inline in the part task, or its own task) continues the part that completed the set")
	require.NotEmpty(t, childrenOf(spans, fin[0], "S3 CompleteMultipartUpload"), "the finalizer's Complete")
	require.NotEmpty(t, named(spans, "redis EVALSHA record_part"), "the Redis scripts have spans")
	for _, sp := range spans {
		require.Equal(t, u.TraceID, sp.traceID)
		require.NotContains(t, sp.attrs["url.full"], "?", "no query string is recorded")
	}

	// The worker's log lines of the upload carry its trace.
	lines := s.logLines(t, "worker", "PartsEnqueued")
	require.NotEmpty(t, lines)
	require.Contains(t, lines[0], `"trace_id":"`+u.TraceID+`"`)
	require.Contains(t, lines[0], `"span_id":"`+start[0].spanID+`"`)
}
