package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/tasks"
)

// benchFeed measures a windowed migration's Redis footprint at the scale of a big manifest
// without S3 or workers: it drives the feeder's and the workers' Redis steps directly, with
// the real scripts and the real asynq tasks (feed_batch.lua for each batch of 500 and their
// upload:start tasks; once the window is full, the oldest batch completes as single PUTs do,
// CompleteSingle compacting each into the done list, and its tasks are deleted as a worker's
// finished tasks are). It prints Redis bytes per in-flight upload (at the first full window),
// per completed upload (used_memory after, and the done list's MEMORY USAGE) and the peak
// used_memory, for cfg.feedLines/4 and cfg.feedLines lines: the peak less the done list is the
// same for both, the done list grows by its per-entry cost.
func benchFeed(ctx context.Context, cfg config, rdb *redis.Client) error {
	fmt.Printf("== windowed migration: Redis while feeding a manifest, --window %d, batches of %d (the feeder's and workers' Redis steps, no S3)\n",
		cfg.feedWindow, tasks.FeedBatch)
	store, err := state.New(rdb, state.Config{})
	if err != nil {
		return err
	}
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	for _, lines := range []int{cfg.feedLines / 4, cfg.feedLines} {
		if lines < tasks.FeedBatch {
			continue
		}
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			return err
		}
		queue := asynq.NewClientFromRedisClient(rdb) // a new one: it remembers the queues it registered
		mid := state.NewMigrationID()
		if _, err := store.CreateMigration(ctx, state.NewMigration{ID: mid, Bucket: "pf-bench", Queue: "default"}); err != nil {
			return err
		}
		if _, err := store.SetFeed(ctx, mid, state.FeedSpec{Kind: "file", Location: "bench.jsonl", Window: cfg.feedWindow}); err != nil {
			return err
		}
		base, err := memoryField(ctx, rdb, "used_memory")
		if err != nil {
			return err
		}
		peakCh := samplePeak(ctx, rdb)
		start := time.Now()
		var live [][]state.UploadID
		var inFlight int64
		seq := int64(0)
		for from := 0; from < lines; from += tasks.FeedBatch {
			n := min(tasks.FeedBatch, lines-from)
			batch := make([]state.NewUpload, n)
			ids := make([]state.UploadID, n)
			for i := range n {
				key := fmt.Sprintf("bench/%08d.bin", from+i)
				src := fmt.Sprintf("data/%02d/file-%08d.bin", (from+i)%100, from+i)
				batch[i] = state.NewUpload{ID: state.DeriveUploadID(mid, "pf-bench", key, src), Source: src, Bucket: "pf-bench", Key: key}
				ids[i] = batch[i].ID
			}
			end := from+n >= lines
			if _, err := store.FeedBatch(ctx, mid, seq, strconv.Itoa(from+n), end, batch); err != nil {
				return err
			}
			seq++
			for _, id := range ids {
				if _, err := queue.EnqueueContext(ctx, tasks.NewStartTask(ctx, id)); err != nil {
					return err
				}
			}
			if err := store.FeedEnqueued(ctx, mid, n); err != nil {
				return err
			}
			live = append(live, ids)
			if inFlight == 0 && len(live)*tasks.FeedBatch >= cfg.feedWindow {
				used, err := memoryField(ctx, rdb, "used_memory")
				if err != nil {
					return err
				}
				inFlight = used - base
			}
			for len(live)*tasks.FeedBatch >= cfg.feedWindow || (end && len(live) > 0) {
				for _, id := range live[0] {
					out, err := store.CompleteSingle(ctx, id, 1, state.UploadPlan{Size: 1024, Fingerprint: "1024:1733600000000000000",
						PartSize: 16 << 20, Parts: 1}, `"0f343b0931126a20f133d67c2b018a3b"`)
					if err != nil {
						return err
					}
					if out.Result != state.ResultOK {
						return fmt.Errorf("complete %s: %s", id, out.Result)
					}
					if err := inspector.DeleteTask(tasks.QueueHigh, tasks.StartTaskID(id)); err != nil {
						return fmt.Errorf("delete the start task of %s: %w", id, err)
					}
				}
				live = live[1:]
			}
		}
		took := time.Since(start)
		peak := <-peakCh
		queue.Close()
		used, err := memoryField(ctx, rdb, "used_memory")
		if err != nil {
			return err
		}
		list, err := rdb.MemoryUsage(ctx, "partflow:{"+mid+"}:done", 0).Result()
		if err != nil {
			return err
		}
		m, err := store.GetMigration(ctx, mid)
		if err != nil {
			return err
		}
		if m.Completed != int64(lines) || !m.Finished() {
			return fmt.Errorf("migration %s: %d of %d completed", mid, m.Completed, lines)
		}
		fmt.Printf("%9d lines (%.0f objects/s): %.0f B per in-flight upload (record, indexes, start task; at the first full window)\n",
			lines, float64(lines)/took.Seconds(), float64(inFlight)/float64(cfg.feedWindow))
		fmt.Printf("%9s %.1f B per completed upload by used_memory (%s after, base %s), %.1f B by the done list's MEMORY USAGE\n", "",
			float64(used-base)/float64(lines), humanize.IBytes(uint64(used)), humanize.IBytes(uint64(base)), float64(list)/float64(lines))
		fmt.Printf("%9s used_memory peak %s (+%s over the base); less the done list: +%s\n", "",
			humanize.IBytes(uint64(peak)), humanize.IBytes(uint64(peak-base)), humanize.IBytes(uint64(max(peak-base-list, 0))))
	}
	fmt.Println()
	return nil
}
