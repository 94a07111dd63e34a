package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/report"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
)

// reportUploads is how many uploads TestReportStreamsEveryUpload puts in its migration.
const reportUploads = 10_000

// `enqueuer report` streams every upload of a 10,000-upload migration, as JSON Lines and as
// CSV, each parsed back row by row while it is written (nothing accumulates on either side),
// with the heap sampled throughout: its growth is logged and bounded generously.
func TestReportStreamsEveryUpload(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	rdb := testenv.RedisClient(t, r)
	store, err := state.New(rdb, state.Config{Retention: time.Hour})
	require.NoError(t, err)
	ctx := t.Context()
	mid := state.NewMigrationID()
	_, err = store.CreateMigration(ctx, state.NewMigration{ID: mid, Bucket: "bkt", Queue: "default"})
	require.NoError(t, err)

	// Every tenth upload failed with a reason CSV has to quote; every 1000th reads a
	// presigned URL whose query must not show.
	reason := func(i int) string { return fmt.Sprintf("source gone, \"really\"\nline %d", i) }
	src := func(i int) string {
		if i%1000 == 0 {
			return fmt.Sprintf("https://files.example.com/f%d?X-Amz-Signature=deadbeefsecret", i)
		}
		return fmt.Sprintf("dir/f%05d.bin", i)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < reportUploads; i = int(next.Add(1)) - 1 {
				id := state.DeriveUploadID(mid, "bkt", fmt.Sprintf("k/%05d", i))
				_, err := store.CreateUpload(ctx, state.NewUpload{ID: id, Source: src(i), Bucket: "bkt", Key: fmt.Sprintf("k/%05d", i)})
				if err == nil && i%10 == 3 {
					_, err = store.Fail(ctx, id, reason(i))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	require.NoError(t, <-errs)
	require.NoError(t, store.SealMigration(ctx, mid))

	for _, format := range []string{"jsonl", "csv"} {
		pr, pw := io.Pipe()
		type parsed struct {
			rows, failed int
			keys         map[string]bool
			err          error
		}
		done := make(chan parsed, 1)
		go func() {
			p := parsed{keys: make(map[string]bool, reportUploads)}
			defer func() { _, _ = io.Copy(io.Discard, pr); done <- p }()
			check := func(row report.Row) {
				p.rows++
				p.keys[row.Key] = true
				i, _ := strconv.Atoi(strings.TrimPrefix(row.Key, "k/"))
				switch {
				case strings.Contains(row.Source, "deadbeef"):
					p.err = fmt.Errorf("row %s shows a presigned query: %s", row.Key, row.Source)
				case row.State == string(state.Failed):
					p.failed++
					if row.Error != reason(i) || row.FailedAttempts != 0 {
						p.err = fmt.Errorf("row %s: error %q, want %q", row.Key, row.Error, reason(i))
					}
				case row.State != string(state.Planned) || row.Bucket != "bkt" || !strings.HasPrefix(row.ID, mid+"."):
					p.err = fmt.Errorf("row %s: %+v", row.Key, row)
				}
			}
			if format == "jsonl" {
				dec := json.NewDecoder(pr)
				for dec.More() && p.err == nil {
					var row report.Row
					if p.err = dec.Decode(&row); p.err == nil {
						check(row)
					}
				}
				return
			}
			cr := csv.NewReader(bufio.NewReader(pr))
			header, err := cr.Read()
			if err != nil || strings.Join(header, ",") != strings.Join(report.Header, ",") {
				p.err = fmt.Errorf("header %v (%v)", header, err)
				return
			}
			for p.err == nil {
				rec, err := cr.Read()
				if err == io.EOF {
					return
				}
				if err != nil {
					p.err = err
					return
				}
				attempts, _ := strconv.ParseInt(rec[7], 10, 64)
				check(report.Row{ID: rec[0], Bucket: rec[1], Key: rec[2], Source: rec[3], State: rec[5],
					FailedAttempts: attempts, Error: rec[8]})
			}
		}()

		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		var peak atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		var stderr strings.Builder
		start := time.Now()
		code := run([]string{"report", "--redis-url", r.URL(), "--format", format, mid}, pw, &stderr)
		elapsed := time.Since(start)
		pw.Close()
		close(stop)
		<-sampled
		p := <-done
		require.Equal(t, exitOK, code, "report --format %s: %s", format, stderr.String())
		require.NoError(t, p.err, "parsing the %s report", format)
		require.Equal(t, reportUploads, p.rows, "%s: one row per upload", format)
		require.Len(t, p.keys, reportUploads, "%s: every upload once", format)
		require.Equal(t, reportUploads/10, p.failed, "%s: the failed uploads", format)
		growth := int64(peak.Load()) - int64(before.HeapAlloc)
		t.Logf("report --format %s: %d rows in %s, heap grew by at most %.1f MiB (the parser's key set included)",
			format, p.rows, elapsed.Round(time.Millisecond), float64(growth)/(1<<20))
		require.Less(t, growth, int64(32<<20), "%s: the heap must not grow with the migration", format)
	}

	// --state keeps only the uploads in those states.
	var stdout, stderr strings.Builder
	require.Equal(t, exitOK, run([]string{"report", "--redis-url", r.URL(), "--state", "failed", mid}, &stdout, &stderr), stderr.String())
	require.Equal(t, reportUploads/10, strings.Count(stdout.String(), "\n"), "--state failed: one line per failed upload")
	require.Equal(t, exitUsage, run([]string{"report", "--redis-url", r.URL(), "--format", "xml", mid}, &stdout, &stderr))
	require.Equal(t, exitFailed, run([]string{"report", "--redis-url", r.URL(), "m-doesnotexist"}, &stdout, &stderr))
}
