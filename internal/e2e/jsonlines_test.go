package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/localstack"
)

// eventSchema is the --json-lines schema of the README: per event kind, its fields and their
// JSON types; a "?" marks an optional field. Every event also has "event" and "time".
var eventSchema = map[string]map[string]string{
	"invalid":  {"where": "string?", "error": "string"},
	"skipped":  {"path": "string", "reason": "string"},
	"planned":  {"migration_id": "string", "valid": "number", "invalid": "number", "bytes": "number", "dry_run": "bool"},
	"enqueued": {"migration_id": "string", "upload_id": "string?", "items": "number", "uploads_created": "number", "uploads_existing": "number"},
	"upload": {"upload_id": "string", "migration_id": "string", "state": "string", "bucket": "string", "key": "string",
		"size": "number", "parts": "number", "parts_done": "number", "bytes_done": "number", "etag": "string?", "error": "string?"},
	"migration": {"migration_id": "string", "state": "string", "finished": "bool", "uploads_total": "number",
		"uploads_completed": "number", "uploads_failed": "number", "uploads_cancelled": "number", "uploads_skipped": "number",
		"bytes_total": "number", "bytes_done": "number"},
	"failed_upload": {"upload_id": "string", "bucket": "string?", "key": "string?", "error": "string"},
	"done":          {"id": "string?", "state": "string?", "exit_code": "number"},
	"error":         {"error": "string", "exit_code": "number"},
}

// decodeEvents checks every line of out against eventSchema and returns the events.
func decodeEvents(t *testing.T, out string) []map[string]any {
	t.Helper()
	var events []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var ev map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &ev), "line %d is one JSON object: %q", i+1, line)
		kind, _ := ev["event"].(string)
		schema, ok := eventSchema[kind]
		require.True(t, ok, "line %d: unknown event %q", i+1, kind)
		stamp, _ := ev["time"].(string)
		_, err := time.Parse(time.RFC3339Nano, stamp)
		require.NoError(t, err, "line %d: time", i+1)
		for name, typ := range schema {
			v, present := ev[name]
			if strings.HasSuffix(typ, "?") && !present {
				continue
			}
			require.True(t, present, "line %d (%s): field %q missing: %s", i+1, kind, name, line)
			var got string
			switch v.(type) {
			case string:
				got = "string"
			case float64:
				got = "number"
			case bool:
				got = "bool"
			default:
				got = fmt.Sprintf("%T", v)
			}
			require.Equal(t, strings.TrimSuffix(typ, "?"), got, "line %d (%s): type of %q", i+1, kind, name)
		}
		for name := range ev {
			_, known := schema[name]
			require.True(t, known || name == "event" || name == "time", "line %d (%s): field %q is not in the schema", i+1, kind, name)
		}
		events = append(events, ev)
	}
	return events
}

func kinds(events []map[string]any) []string {
	var out []string
	for _, ev := range events {
		out = append(out, ev["event"].(string))
	}
	return out
}

// TestJSONLinesSchema: put, migrate and status --watch with --json-lines print one event per
// line and per change, each as the README's schema says, ending with done.
func TestJSONLinesSchema(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.writeFile(t, "big", 16*mib+1)
	s.writeFile(t, "ok", 10)
	s.startWorker(t, "worker")

	r := s.enqueuer(t, "put", "--source", "big", "--bucket", s.bucket, "--key", "big", "--part-size", "5MiB", "--wait", "--json-lines")
	require.Equal(t, 0, r.code, r.stderr)
	events := decodeEvents(t, r.stdout)
	k := kinds(events)
	require.Equal(t, "enqueued", k[0])
	require.Equal(t, "done", k[len(k)-1])
	require.EqualValues(t, 0, events[len(events)-1]["exit_code"])
	require.Equal(t, "completed", events[len(events)-1]["state"])
	var parts []float64
	for _, ev := range events[1 : len(events)-1] {
		require.Equal(t, "upload", ev["event"])
		parts = append(parts, ev["parts_done"].(float64))
	}
	require.GreaterOrEqual(t, len(parts), 2, "an event per change: %v", k)
	require.IsNonDecreasing(t, parts)
	last := events[len(events)-2]
	require.Equal(t, "completed", last["state"])
	require.EqualValues(t, 4, last["parts"])
	require.EqualValues(t, 16*mib+1, last["bytes_done"])

	manifest := `{"source":"ok","key":"ok"}` + "\n" + `{"source":"missing","key":"gone"}` + "\n" + `{"key":"no-source"}` + "\n"
	r = s.run(t, strings.NewReader(manifest), "migrate", "--bucket", s.bucket, "--manifest", "-", "--skip-invalid",
		"--wait", "--json-lines")
	require.Equal(t, 1, r.code, r.stderr)
	events = decodeEvents(t, r.stdout)
	k = kinds(events)
	require.Equal(t, []string{"invalid", "planned", "enqueued"}, k[:3])
	require.Equal(t, []string{"failed_upload", "done"}, k[len(k)-2:])
	require.Equal(t, "line 3", events[0]["where"])
	mid := events[1]["migration_id"].(string)
	require.EqualValues(t, 2, events[1]["valid"])
	final := events[len(events)-3]
	require.Equal(t, "migration", final["event"])
	require.Equal(t, true, final["finished"])
	require.Equal(t, "failed", final["state"])
	require.Equal(t, "gone", events[len(events)-2]["key"])
	require.EqualValues(t, 1, events[len(events)-1]["exit_code"])
	require.Equal(t, mid, events[len(events)-1]["id"])

	r = s.run(t, nil, "status", mid, "--watch", "--json-lines")
	require.Equal(t, 1, r.code, r.stderr)
	require.Equal(t, []string{"migration", "failed_upload", "done"}, kinds(decodeEvents(t, r.stdout)))

	port, err := localstack.FreePort()
	require.NoError(t, err)
	r = s.run(t, nil, "status", mid, "--json-lines", "--redis-url", fmt.Sprintf("redis://127.0.0.1:%d/0", port))
	require.Equal(t, 3, r.code, r.stderr)
	events = decodeEvents(t, r.stdout)
	require.Equal(t, []string{"error"}, kinds(events))
	require.EqualValues(t, 3, events[0]["exit_code"])

	r = s.run(t, nil, "status", mid, "--json", "--json-lines")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "at most one of --json and --json-lines")
}
