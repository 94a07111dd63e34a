package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"mime"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hibiken/asynq"

	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/tracing"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

// MigrationItem is one object of a migration.
type MigrationItem struct {
	// Source is a path relative to the volume root, an http(s) URL or s3://bucket/key (read
	// from the workers' source store).
	Source string
	// Key is the object key below MigrateRequest.Prefix.
	Key string
	// Bucket defaults to MigrateRequest.Bucket.
	Bucket string
	// ContentType defaults to the type of Key's extension (storage.ContentTypeFor, a
	// built-in table), else application/octet-stream; for an s3:// source, to the source
	// object's content type.
	ContentType string
	// Metadata is user metadata (names without the x-amz-meta- prefix). An s3:// source's
	// own metadata is carried over; these keys win over its keys of the same names.
	Metadata map[string]string
	// Options override MigrateRequest.Options, option by option.
	Options ObjectOptions
	// Fingerprint names the version of the source the item means; with the bucket and the key
	// it derives the upload's ID, so the same item in a re-run finds the same upload. Default:
	// Source. WalkVolume uses the file's size and modification time, so a file that changed
	// is uploaded again while unchanged ones are not.
	Fingerprint string
	// Size is the source's size if known (WalkVolume knows it), for plans, progress and
	// filters only: workers stat the source themselves.
	Size int64
	// ModTime is the source's modification time if known (WalkVolume knows it), for filters.
	ModTime time.Time
	// Where the item came from ("line 12", a path), for messages.
	Where string
}

// ItemError is an invalid migration item: where it came from and what is wrong with it.
// It wraps ErrInvalid.
type ItemError struct {
	Where string
	Err   error
}

func (e *ItemError) Error() string {
	if e.Where == "" {
		return e.Err.Error()
	}
	return e.Where + ": " + e.Err.Error()
}

func (e *ItemError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// Priority of a migration: the asynq queue its part tasks go to.
type Priority string

// Priorities, mapped to the queues tasks.Queues weighs 1 : 3 : 6.
const (
	PriorityLow     Priority = "low"
	PriorityDefault Priority = "default"
	PriorityHigh    Priority = "high"
)

func (p Priority) queue() (string, error) {
	switch p {
	case PriorityLow:
		return tasks.QueueLow, nil
	case "", PriorityDefault:
		return tasks.QueueDefault, nil
	case PriorityHigh:
		return tasks.QueueHigh, nil
	}
	return "", fmt.Errorf("%w: priority %q: want low, default or high", ErrInvalid, p)
}

// migrateLinger is how long Migrate holds an item for others to be created with it in one
// script (and share an upload:batch task) when no more are waiting yet.
const migrateLinger = 5 * time.Millisecond

// DefaultMigrateConcurrency is how many items Migrate enqueues at once by default. asynq
// enqueues one task per round trip, so enqueueing is bound by round trips, not by Redis.
const DefaultMigrateConcurrency = 16

// MigrateRequest asks for many objects to be uploaded as one migration.
type MigrateRequest struct {
	// ID of the migration; empty derives it from Bucket, Prefix and Source, so running the
	// same migration again finds the same record (see DeriveMigrationID). An existing ID
	// must have the same Bucket and Prefix; give it explicitly to carry on a migration whose
	// source changed (a manifest that grew: only the new lines make new uploads).
	ID string
	// Bucket is the default bucket of the items. Required.
	Bucket string
	// Prefix is put in front of every item's key.
	Prefix string
	// Source says what is migrated, for people ("dir:photos/2024",
	// "manifest:sha256:…"); it also derives the ID when ID is empty, so make it stable.
	Source string
	// Items are the objects. An item yielded with an error wrapping ErrInvalid (an
	// *ItemError) is invalid; any other error ends the migration. Items may be iterated
	// more than once (Plan, then Migrate); each iteration must yield the same items.
	Items iter.Seq2[MigrationItem, error]
	// SourcePrefix, instead of Items, is s3://bucket/prefix of the workers' source store: the
	// fleet's feeder lists it (the enqueuer needs no source credentials), Window uploads at a
	// time, checkpointing the last key listed. A key below the prefix becomes Prefix + that
	// key, as a directory walk's path does; content type, metadata (and tags, with the
	// workers' --source-s3-copy-tags) are the source object's. Needs Window.
	SourcePrefix string
	// Filter is what the feeder keeps of SourcePrefix's listing.
	Filter ListingFilter

	Priority Priority
	// PartSize requested for every upload; 0 for the default (16 MiB).
	PartSize int64
	// SkipExisting completes uploads whose object already exists with the same size (and
	// the same MD5, for objects of one part) without uploading them; workers check it.
	SkipExisting bool
	// SkipInvalid goes on past invalid items (reporting each to OnInvalid); without it the
	// first invalid item stops Migrate. To enqueue nothing when any item is invalid, run
	// Plan first.
	SkipInvalid bool
	// AllowURLHosts lists the hosts URL sources may name: an exact host, "*.suffix" (any
	// host below suffix) or "*". Empty allows no URL source. Workers enforce their own list
	// (and the address policy) again when they connect.
	AllowURLHosts []string
	// Options are every item's object options, unless an item sets its own.
	Options ObjectOptions
	// Concurrency is how many items are enqueued at once; default DefaultMigrateConcurrency.
	Concurrency int
	// OnInvalid, if set, is called with each invalid item's error (from the goroutine that
	// iterates Items).
	OnInvalid func(error)
	// Progress, if set, is called about every ProgressInterval while Migrate enqueues (from
	// the goroutine that iterates Items).
	Progress func(MigrateResult)
	// ProgressInterval between Progress calls; default 200ms.
	ProgressInterval time.Duration
	// Dedupe says what to do with a key several items name: refuse the migration (the
	// default) or upload the last item of each (DedupeLast). Either way the items are
	// iterated once more, before anything is enqueued, unless Plan ran on this request.
	Dedupe Dedupe
	// Controls are the migration's failure threshold, report object and bandwidth cap; set
	// (replacing earlier ones) when any is given.
	Controls MigrationControls

	// Window, when positive, feeds the migration through the fleet: Migrate writes the
	// resolved items to a feed file on the shared volume (FeedVolume) and enqueues a feeder
	// task that keeps at most Window uploads unfinished in Redis; completed uploads leave only
	// a compact record. Migrate returns before the uploads exist (the last batch seals the
	// migration). A migration that exists already and was not fed carries on as before.
	Window int
	// FeedVolume is the shared volume's root, where the feed file goes; required with Window.
	FeedVolume *os.Root

	keys *keyIndex // what Plan (or Migrate's first pass) found about repeated keys
}

// DeriveMigrationID returns the migration ID for a bucket, prefix and source description:
// "m-" and 20 hex digits of their SHA-256.
func DeriveMigrationID(bucket, prefix, source string) string {
	h := sha256.New()
	for _, p := range []string{bucket, prefix, source} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "m-" + hex.EncodeToString(h.Sum(nil))[:20]
}

// validate checks the request and fills its defaults; with needID, a missing ID is derived.
func (r *MigrateRequest) validate(needID bool) error {
	if err := storage.ValidateBucket(r.Bucket); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !utf8.ValidString(r.Prefix) || len(r.Prefix) >= storage.MaxKeyLength {
		return fmt.Errorf("%w: prefix must be valid UTF-8 and shorter than %d bytes", ErrInvalid, storage.MaxKeyLength)
	}
	if r.SourcePrefix != "" {
		if err := r.validateListed(); err != nil {
			return err
		}
	} else if r.Items == nil {
		return fmt.Errorf("%w: no items", ErrInvalid)
	}
	if _, err := r.Priority.queue(); err != nil {
		return err
	}
	if err := r.Dedupe.validate(); err != nil {
		return err
	}
	if r.PartSize != 0 && (r.PartSize < storage.MinPartSize || r.PartSize > storage.MaxPartSize) {
		return fmt.Errorf("%w: part size %d is outside S3's limits [%d, %d]", ErrInvalid, r.PartSize,
			storage.MinPartSize, storage.MaxPartSize)
	}
	if r.Window < 0 {
		return fmt.Errorf("%w: window %d must not be negative", ErrInvalid, r.Window)
	}
	if r.Window > 0 && r.FeedVolume == nil && r.SourcePrefix == "" {
		return fmt.Errorf("%w: a window needs the shared volume (FeedVolume) to write the feed file", ErrInvalid)
	}
	if r.Concurrency < 0 || r.Concurrency > 1024 {
		return fmt.Errorf("%w: concurrency %d: want 1 to 1024", ErrInvalid, r.Concurrency)
	}
	if r.Concurrency == 0 {
		r.Concurrency = DefaultMigrateConcurrency
	}
	if r.ProgressInterval <= 0 {
		r.ProgressInterval = 200 * time.Millisecond
	}
	if err := r.Controls.validate(); err != nil {
		return err
	}
	if err := source.CheckHostPatterns(r.AllowURLHosts); err != nil {
		return fmt.Errorf("%w: URL %w", ErrInvalid, err)
	}
	if !needID {
		return nil
	}
	if r.ID == "" {
		if r.Source == "" {
			return fmt.Errorf("%w: give the migration an ID or a Source to derive it from", ErrInvalid)
		}
		r.ID = DeriveMigrationID(r.Bucket, r.Prefix, r.Source)
	}
	if err := state.ValidateMigrationID(r.ID); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Resolve checks one item as Migrate will and returns it as it will be enqueued: the
// request's prefix in front of its key, its bucket, content type and fingerprint filled in.
// Call it on a validated request (Plan and Migrate do).
func (r *MigrateRequest) Resolve(it MigrationItem) (MigrationItem, error) {
	bad := func(err error) error { return &ItemError{Where: it.Where, Err: err} }
	switch {
	case it.Source == "":
		return it, bad(errors.New(`missing "source"`))
	case it.Key == "":
		return it, bad(errors.New(`missing "key"`))
	}
	if it.Bucket == "" {
		it.Bucket = r.Bucket
	}
	it.Key = r.Prefix + it.Key
	if err := storage.ValidateObject(storage.Object{Bucket: it.Bucket, Key: it.Key}); err != nil {
		return it, bad(err)
	}
	if err := r.checkSource(it.Source); err != nil {
		return it, bad(err)
	}
	if err := checkMetadata(it.Metadata); err != nil {
		return it, bad(err)
	}
	it.Options = r.Options.Merge(it.Options)
	if err := checkObjectOptions(it.Options); err != nil {
		return it, bad(err)
	}
	if it.ContentType == "" {
		if !source.IsS3(it.Source) { // an S3 source's own type is the worker's to read
			it.ContentType = storage.ContentTypeFor(it.Key)
		}
	} else if _, _, err := mime.ParseMediaType(it.ContentType); err != nil {
		return it, bad(fmt.Errorf("content_type %q is not a media type: %v", it.ContentType, err))
	}
	if it.Fingerprint == "" {
		it.Fingerprint = it.Source
	}
	return it, nil
}

// checkSource checks a source as put does, and a URL's host against the allow list.
func (r *MigrateRequest) checkSource(src string) error {
	u, err := checkSource(src)
	if err != nil {
		return err
	}
	if u == nil {
		return nil
	}
	if ok, err := source.HostAllowed(r.AllowURLHosts, u.Hostname()); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("URL host %q is not allowed (allow it with --allow-url-host / PARTFLOW_ALLOW_URL_HOSTS)",
			u.Hostname())
	}
	return nil
}

// maxMetadataBytes is S3's limit on the size of an object's user metadata.
const maxMetadataBytes = 2 << 10

func checkMetadata(m map[string]string) error {
	n := 0
	for k, v := range m {
		if k == "" || strings.IndexFunc(k, func(c rune) bool { return !isTokenChar(c) }) >= 0 {
			return fmt.Errorf("metadata name %q: want letters, digits and -_.!#$%%&'*+^`|~ only", k)
		}
		if strings.IndexFunc(v, func(c rune) bool { return c < 0x20 && c != '\t' || c == 0x7f }) >= 0 {
			return fmt.Errorf("metadata %q: the value contains control characters", k)
		}
		n += len(k) + len(v)
	}
	if n > maxMetadataBytes {
		return fmt.Errorf("metadata is %d bytes, more than S3's limit of %d", n, maxMetadataBytes)
	}
	return nil
}

func isTokenChar(c rune) bool {
	return c < utf8.RuneSelf && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.ContainsRune("-_.!#$%&'*+^`|~", c))
}

// MigrationPlan is what Plan found: the items that would be enqueued.
type MigrationPlan struct {
	Valid   int64 `json:"valid"`
	Invalid int64 `json:"invalid"`
	// Duplicates are valid items whose key an earlier item names too (each was reported to
	// OnInvalid). With DedupeRefuse, Migrate refuses to enqueue any item while there are some.
	Duplicates int64    `json:"duplicates"`
	Bytes      int64    `json:"bytes"` // of the items whose size is known
	FirstKeys  []string `json:"first_keys,omitempty"`
}

// Plan iterates the items once and checks each as Migrate would, without touching Redis:
// the dry run, and the validation pass that lets a caller enqueue nothing when any item is
// invalid. Invalid items go to OnInvalid; firstKeys keys (with prefix) are kept.
func (r *MigrateRequest) Plan(firstKeys int) (MigrationPlan, error) {
	if err := r.validate(false); err != nil {
		return MigrationPlan{}, err
	}
	if r.SourcePrefix != "" {
		return MigrationPlan{}, fmt.Errorf("%w: %s is listed by the fleet, not planned here", ErrInvalid, r.SourcePrefix)
	}
	var p MigrationPlan
	keys := newKeyIndex()
	for it, err := range r.Items {
		if err == nil {
			it, err = r.Resolve(it)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				return p, err
			}
			p.Invalid++
			if r.OnInvalid != nil {
				r.OnInvalid(err)
			}
			continue
		}
		if err := keys.add(it); err != nil {
			p.Duplicates++
			if r.OnInvalid != nil && r.Dedupe == DedupeRefuse {
				r.OnInvalid(err)
			}
		}
		p.Valid++
		p.Bytes += it.Size
		if len(p.FirstKeys) < firstKeys {
			p.FirstKeys = append(p.FirstKeys, it.Bucket+"/"+it.Key)
		}
	}
	r.keys = keys
	return p, nil
}

// checkKeys makes sure Migrate knows the repeated keys, iterating the items once if Plan did
// not, and refuses them unless DedupeLast.
func (r *MigrateRequest) checkKeys() error {
	if r.keys == nil {
		keys := newKeyIndex()
		for it, err := range r.Items {
			if err == nil {
				it, err = r.Resolve(it)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					return err
				}
				continue // Migrate reports it
			}
			if err := keys.add(it); err != nil && r.Dedupe == DedupeRefuse && r.OnInvalid != nil {
				r.OnInvalid(err)
			}
		}
		r.keys = keys
	}
	if r.keys.count > 0 && r.Dedupe == DedupeRefuse {
		return fmt.Errorf("%w: %d items name a key an earlier item names too; nothing was enqueued "+
			"(remove them, or dedupe: last to upload the last item of each key)", ErrInvalid, r.keys.count)
	}
	return nil
}

// MigrateResult is what Migrate did.
type MigrateResult struct {
	ID string `json:"migration_id"`
	// MigrationCreated is false when the migration existed already (a re-run).
	MigrationCreated bool `json:"migration_created"`
	// Items is how many valid items were handed to Redis.
	Items int64 `json:"items"`
	// Created uploads are new; Existing ones were there from an earlier run (or repeat an
	// earlier item), and of those Requeued had lost their start task (an enqueuer killed
	// between writing the record and enqueueing) and got it back.
	Created  int64 `json:"uploads_created"`
	Existing int64 `json:"uploads_existing"`
	Requeued int64 `json:"start_tasks_requeued"`
	Invalid  int64 `json:"invalid"`
	// Deduped items were left out for a later item of the same key (DedupeLast).
	Deduped int64 `json:"deduped,omitempty"`
	// Bytes of the items whose size is known.
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"-"`
	// Sealed: every item was enqueued and the migration can finish.
	Sealed bool `json:"sealed"`
	// Fed: the items went to a feed file (FeedFile, relative to the volume root) that the
	// fleet's feeder turns into uploads, Window at a time; Created and Existing stay 0.
	Fed      bool   `json:"fed,omitempty"`
	FeedFile string `json:"feed_file,omitempty"`
	// Listing is the S3 prefix the fleet's feeder lists (MigrateRequest.SourcePrefix).
	Listing string `json:"listing,omitempty"`
}

// Rate is items enqueued per second.
func (r MigrateResult) Rate() float64 { return float64(r.Items) / max(r.Duration.Seconds(), 1e-9) }

// Migrate creates the migration (unless it exists), creates an upload and enqueues its start
// task for every valid item, Concurrency at a time, and seals the migration once every item
// is in. It is safe to run again with the same request, also after it was interrupted:
// upload IDs derive from the migration, bucket, key and fingerprint, so an item already
// enqueued, in flight or done is not enqueued again, and an upload whose start task was lost
// gets it back. On error the migration stays unsealed (it cannot finish) until a run
// completes.
func (c *Client) Migrate(ctx context.Context, r MigrateRequest) (MigrateResult, error) {
	ctx, span := c.trace.StartMigration(ctx, r.ID)
	res, err := c.migrate(ctx, r)
	tracing.End(span, err)
	return res, err
}

func (c *Client) migrate(ctx context.Context, r MigrateRequest) (MigrateResult, error) {
	if err := r.validate(true); err != nil {
		return MigrateResult{}, err
	}
	if r.SourcePrefix == "" {
		if err := r.checkKeys(); err != nil {
			return MigrateResult{}, err
		}
	}
	begin := time.Now()
	created, fed, err := c.openMigration(ctx, &r)
	if err != nil {
		return MigrateResult{}, err
	}
	if r.SourcePrefix != "" {
		return c.migrateListed(ctx, &r, created, begin)
	}
	if r.Window > 0 {
		if res, handled, err := c.migrateFed(ctx, &r, created, begin); handled || err != nil {
			return res, err
		}
	} else if fed {
		// A windowed migration's completed uploads are compacted (no record left to find):
		// writing its items into Redis would create and upload them again.
		return MigrateResult{}, fmt.Errorf("%w: migration %s is windowed (fed from its listing by the fleet): "+
			"run it again with a window (--window), or give another ID", ErrInvalid, r.ID)
	}
	run := &migrateRun{c: c, r: &r, created: created, begin: begin}
	run.ctx, run.cancel = context.WithCancelCause(ctx)
	defer run.cancel(nil)
	work := make(chan MigrationItem, 4*r.Concurrency)
	var wg sync.WaitGroup
	for range r.Concurrency {
		wg.Go(func() { run.create(work) })
	}
	run.send(work)
	close(work)
	wg.Wait()
	return run.finish(ctx)
}

// openMigration creates r's migration, or checks that the existing one has r's destination,
// and applies r's controls. It reports whether it created the migration, and whether the
// existing one is fed (windowed).
func (c *Client) openMigration(ctx context.Context, r *MigrateRequest) (created, fed bool, err error) {
	queue, _ := r.Priority.queue()
	created, err = c.store.CreateMigration(ctx, state.NewMigration{ID: r.ID, Bucket: r.Bucket, Prefix: r.Prefix,
		Source: r.Source, Queue: queue})
	if err != nil {
		return false, false, err
	}
	if !created {
		m, err := c.store.GetMigration(ctx, r.ID)
		if err != nil {
			return false, false, err
		}
		// An ID names one destination. (The source may differ: carrying on a migration whose
		// manifest grew, under its ID, is fine.)
		if m.Bucket != r.Bucket || m.Prefix != r.Prefix {
			return false, false, fmt.Errorf("%w: migration %s exists for %s/%s (from %s), not %s/%s; give another ID",
				ErrInvalid, r.ID, m.Bucket, m.Prefix, m.Source, r.Bucket, r.Prefix)
		}
		fed = m.Fed
	}
	if r.Controls != (MigrationControls{}) {
		if err := c.store.Configure(ctx, r.ID, r.Controls.state()); err != nil {
			return false, false, err
		}
	}
	return created, fed, nil
}

// requeue gives an upload that exists already its start task, only while it is still
// planned (its task was lost, or is still queued, which makes enqueueing a no-op thanks to the
// deterministic task ID). It reports whether it enqueued one.
func (c *Client) requeue(ctx context.Context, id state.UploadID) (bool, error) {
	u, err := c.store.GetUpload(ctx, id)
	if errors.Is(err, state.ErrNotFound) {
		return false, nil // expired after finishing in an earlier run
	}
	if err != nil || u.State != state.Planned {
		return false, err
	}
	_, err = c.queue.EnqueueContext(ctx, tasks.NewStartTask(ctx, id))
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("enqueue start of %s: %w", id, err)
	}
	return true, nil
}

// ItemsOf returns items as a sequence for MigrateRequest.Items.
func ItemsOf(items ...MigrationItem) iter.Seq2[MigrationItem, error] {
	return func(yield func(MigrationItem, error) bool) {
		for _, it := range items {
			if !yield(it, nil) {
				return
			}
		}
	}
}
