package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/tracing"
	"github.com/partflow/partflow/tasks"
)

// migrateRun is one run of Migrate over a request's items (not fed, not listed): send hands
// the valid, deduplicated items to Concurrency create loops, which create their uploads a
// batch at a time and enqueue their tasks; finish seals the migration.
type migrateRun struct {
	c       *Client
	r       *MigrateRequest
	ctx     context.Context // canceled, with its cause, by the first error
	cancel  context.CancelCauseFunc
	created bool // the run created the migration
	begin   time.Time
	n       struct{ items, created, existing, requeued, invalid, deduped, bytes atomic.Int64 }
}

// snapshot is the result so far.
func (m *migrateRun) snapshot() MigrateResult {
	n := &m.n
	return MigrateResult{ID: m.r.ID, MigrationCreated: m.created, Items: n.items.Load(), Created: n.created.Load(),
		Existing: n.existing.Load(), Requeued: n.requeued.Load(), Invalid: n.invalid.Load(), Deduped: n.deduped.Load(),
		Bytes: n.bytes.Load(), Duration: time.Since(m.begin)}
}

// send resolves and deduplicates the request's items and hands them to work, until the items
// end or the run is canceled; it reports progress every ProgressInterval.
func (m *migrateRun) send(work chan<- MigrationItem) {
	r := m.r
	lastProgress := time.Now()
	for it, err := range r.Items {
		if m.ctx.Err() != nil {
			return
		}
		if err == nil {
			it, err = r.Resolve(it)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) || !r.SkipInvalid {
				m.cancel(err)
				return
			}
			m.n.invalid.Add(1)
			if r.OnInvalid != nil {
				r.OnInvalid(err)
			}
			continue
		}
		if !r.keys.keep(it) {
			m.n.deduped.Add(1)
			continue
		}
		select {
		case work <- it:
		case <-m.ctx.Done():
		}
		if r.Progress != nil && time.Since(lastProgress) >= r.ProgressInterval {
			r.Progress(m.snapshot())
			lastProgress = time.Now()
		}
	}
}

// pendingItem is an item gathered to be created with others in one script.
type pendingItem struct {
	it  MigrationItem
	id  state.UploadID
	end func(error) // ends the upload's span
	up  state.NewUpload
}

// create is one create loop: it gathers items into batches (tasks.CreateAndEnqueue: small
// ones share upload:batch tasks), sent once tasks.BatchMaxUploads are gathered or the first
// has waited migrateLinger. Items not created when the run is canceled are left to a re-run.
func (m *migrateRun) create(work <-chan MigrationItem) {
	var pending []pendingItem
	defer func() { m.flush(pending) }()
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		var it MigrationItem
		var ok bool
		if len(pending) == 0 {
			it, ok = <-work
		} else {
			select {
			case it, ok = <-work:
			case <-linger.C:
				m.flush(pending)
				pending = pending[:0]
				continue
			}
		}
		if !ok {
			return
		}
		if m.ctx.Err() != nil {
			continue // drain
		}
		pending = append(pending, m.pending(it))
		switch {
		case len(pending) >= tasks.BatchMaxUploads:
			linger.Stop()
			m.flush(pending)
			pending = pending[:0]
		case len(pending) == 1:
			// The first item waits at most migrateLinger for others to share its script.
			linger.Reset(migrateLinger)
		}
	}
}

// pending starts the upload span of it and makes its new upload.
func (m *migrateRun) pending(it MigrationItem) pendingItem {
	r := m.r
	id := state.DeriveUploadID(r.ID, it.Bucket, it.Key, it.Fingerprint)
	ictx, span := m.c.trace.StartUpload(m.ctx, id.String(), it.Bucket, it.Key)
	return pendingItem{it: it, id: id, end: func(err error) { tracing.End(span, err) }, up: state.NewUpload{ID: id,
		Source: it.Source, Bucket: it.Bucket, Key: it.Key, ContentType: it.ContentType, Metadata: it.Metadata,
		Options: state.ObjectOptions(it.Options), PartSize: r.PartSize, SkipExisting: r.SkipExisting,
		TraceID: tracing.TraceID(ictx)}}
}

// flush creates the pending items' uploads in one script and enqueues their tasks (an item
// that exists already gets its start task back while it is planned), and counts them.
func (m *migrateRun) flush(pending []pendingItem) {
	if len(pending) == 0 {
		return
	}
	if err := m.ctx.Err(); err != nil {
		for _, p := range pending {
			p.end(err)
		}
		return
	}
	news := make([]tasks.NewItem, len(pending))
	for i, p := range pending {
		news[i] = tasks.NewItem{Upload: p.up, Size: p.it.Size}
	}
	// Once created, their tasks are enqueued even if the run is canceled meanwhile (a re-run
	// would find them planned and give each its own start task).
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(m.ctx), 10*time.Second)
	defer fcancel()
	isNew, err := tasks.CreateAndEnqueue(fctx, m.c.store, m.c.queue, news)
	for i, p := range pending {
		var requeued bool
		ierr := err
		if err == nil && !isNew[i] {
			requeued, ierr = m.c.requeue(fctx, p.id)
		}
		p.end(ierr)
		if ierr != nil {
			m.cancel(fmt.Errorf("enqueue: %w", ierr))
			continue
		}
		m.n.items.Add(1)
		m.n.bytes.Add(p.it.Size)
		switch {
		case isNew[i]:
			m.n.created.Add(1)
		case requeued:
			m.n.existing.Add(1)
			m.n.requeued.Add(1)
		default:
			m.n.existing.Add(1)
		}
	}
}

// finish ends the run: its error, or the migration sealed (and its report, when it finished).
func (m *migrateRun) finish(ctx context.Context) (MigrateResult, error) {
	if err := context.Cause(m.ctx); err != nil {
		res := m.snapshot()
		if errors.Is(err, ErrInvalid) {
			return res, err
		}
		return res, fmt.Errorf("client: migration %s: %w (run it again to carry on)", m.r.ID, err)
	}
	if err := m.c.store.SealMigration(ctx, m.r.ID); err != nil {
		return m.snapshot(), err
	}
	if err := m.c.reportIfFinished(ctx, m.r.ID); err != nil {
		return m.snapshot(), err
	}
	res := m.snapshot()
	res.Sealed = true
	if m.r.Progress != nil {
		m.r.Progress(res)
	}
	return res, nil
}
