// Package state keeps partflow's upload and migration records in Redis.
//
// Every change of an upload goes through one Lua script (embedded from scripts/*.lua), so a
// transition, its version bump, its migration's counters, the expiry of terminal records and
// the progress event happen atomically. Transitions are compare-and-swap operations on the
// upload's version; see the package's scripts for the exact rules.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// State is the life-cycle state of an upload.
type State string

// The states of an upload: planned → uploading → completing → completed, or failed or cancelled.
const (
	Planned    State = "planned"
	Uploading  State = "uploading"
	Completing State = "completing"
	Completed  State = "completed"
	Failed     State = "failed"
	Cancelled  State = "cancelled"
)

// Terminal reports whether no work is left for an upload in state s.
func (s State) Terminal() bool { return s == Completed || s == Failed || s == Cancelled }

// ErrNotFound is returned for an upload or migration that does not exist (or has expired).
var ErrNotFound = errors.New("not found")

// Config configures a Store.
type Config struct {
	// Retention is how long terminal uploads and finished migrations are kept. Default 7 days.
	Retention time.Duration
	// IdleExpiry is how long the records of an unfinished migration (one never sealed: a put
	// whose seal failed, an interrupted migrate never run again) and of a live upload are kept
	// without any change; every change restarts it. Default 30 days, and never less than
	// Retention.
	IdleExpiry time.Duration
}

func (c *Config) validate() error {
	if c.Retention < 0 {
		return fmt.Errorf("state: Retention must not be negative, got %v", c.Retention)
	}
	if c.Retention == 0 {
		c.Retention = 7 * 24 * time.Hour
	}
	if c.Retention < time.Second {
		return fmt.Errorf("state: Retention must be at least 1s, got %v", c.Retention)
	}
	if c.IdleExpiry < 0 {
		return fmt.Errorf("state: IdleExpiry must not be negative, got %v", c.IdleExpiry)
	}
	if c.IdleExpiry == 0 {
		c.IdleExpiry = 30 * 24 * time.Hour
	}
	// A migration must outlive its terminal uploads' records (see create_upload.lua).
	c.IdleExpiry = max(c.IdleExpiry, c.Retention)
	return nil
}

// Store reads and changes upload and migration records.
type Store struct {
	rdb        redis.UniversalClient
	retention  string // seconds, as the scripts take it
	idleExpiry string // likewise
}

// New returns a Store on rdb.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Store{rdb: rdb, retention: strconv.FormatInt(int64(cfg.Retention/time.Second), 10),
		idleExpiry: strconv.FormatInt(int64(cfg.IdleExpiry/time.Second), 10)}, nil
}

// run runs an upload script with the shared leading arguments (retention, idle expiry, channel).
func (s *Store) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	return script.Run(ctx, s.rdb, keys, append([]any{s.retention, s.idleExpiry, EventsChannel}, args...)...)
}

// Migration is a migration record: a set of uploads enqueued together, with counters.
type Migration struct {
	ID        string
	Bucket    string
	Prefix    string
	Source    string // what was migrated: a directory, a manifest, or the source of a single put
	Queue     string // the asynq queue of its part tasks
	Sealed    bool   // every upload has been enqueued
	Total     int64  // uploads
	Completed int64  // uploads completed
	Failed    int64  // uploads failed
	Cancelled int64  // uploads cancelled
	Skipped   int64  // of Completed: completed because an identical object existed (skip-existing)

	// Started counts the uploads whose source was read and size fixed (planned by a start
	// task); -1 for a record written before partflow counted them.
	Started int64

	BytesTotal int64 // of the uploads started (planned) so far
	BytesDone  int64
	// BytesSkipped is the part of BytesDone that was already in place (skip-existing).
	BytesSkipped int64
	Created      time.Time
	Updated      time.Time

	// Pause says whether handlers leave the migration's uploads alone (see PauseMigration).
	Pause Pause
	// Controls: its failure threshold, report object and bandwidth cap.
	Controls Controls
	// ReportWritten is when the fleet wrote its report object (zero until then).
	ReportWritten time.Time
	// Fed: a feeder creates the uploads (see FeedSpec); its completed uploads are compacted.
	Fed bool
	// FeedPaused says why the feeder waits (Redis memory above its threshold); "" when it does not.
	FeedPaused string
	// FeedRun is the number of the feeder run that last claimed the feed (0 before one).
	FeedRun int64
}

// Paused reports whether the migration is paused (the feeder and the handlers check it).
func (m Migration) Paused() bool { return m.Pause.Paused }

// Finished reports whether the migration is sealed and every upload in it is terminal.
func (m Migration) Finished() bool { return m.Sealed && m.Completed+m.Failed+m.Cancelled >= m.Total }

// NewMigration describes a migration to create.
type NewMigration struct {
	ID     string
	Bucket string
	Prefix string
	Source string
	Queue  string
}

// CreateMigration creates the migration record unless it exists. It reports whether it was created.
func (s *Store) CreateMigration(ctx context.Context, m NewMigration) (bool, error) {
	if err := ValidateMigrationID(m.ID); err != nil {
		return false, err
	}
	keys := uploadKeys(UploadID{Migration: m.ID})
	n, err := s.run(ctx, createMigrationScript, keys,
		"id", m.ID, "bucket", m.Bucket, "prefix", m.Prefix, "source", m.Source, "queue", m.Queue).Int()
	if err != nil {
		return false, fmt.Errorf("state: create migration %s: %w", m.ID, err)
	}
	if err := s.touchIndex(ctx, m.ID); err != nil {
		return false, err
	}
	return n == 1, nil
}

// SealMigration marks a migration as fully enqueued.
func (s *Store) SealMigration(ctx context.Context, id string) error {
	n, err := s.run(ctx, sealMigrationScript, uploadKeys(UploadID{Migration: id})).Int()
	if err != nil {
		return fmt.Errorf("state: seal migration %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("state: seal migration %s: %w", id, ErrNotFound)
	}
	return nil
}

// touchIndex records the migration in the global index. The index lives in another Cluster
// slot than the migration, so it is written outside the scripts; it is a hint for listing,
// never the source of truth.
func (s *Store) touchIndex(ctx context.Context, migrationID string) error {
	err := s.rdb.ZAdd(ctx, MigrationsIndexKey, redis.Z{Score: float64(time.Now().UnixMilli()), Member: migrationID}).Err()
	if err != nil {
		return fmt.Errorf("state: index migration %s: %w", migrationID, err)
	}
	return nil
}

// GetMigration reads a migration record.
func (s *Store) GetMigration(ctx context.Context, id string) (Migration, error) {
	if err := ValidateMigrationID(id); err != nil {
		return Migration{}, err
	}
	h, err := s.rdb.HGetAll(ctx, migrationKey(id)).Result()
	if err != nil {
		return Migration{}, fmt.Errorf("state: get migration %s: %w", id, err)
	}
	if len(h) == 0 {
		return Migration{}, fmt.Errorf("state: migration %s: %w", id, ErrNotFound)
	}
	f := fields(h)
	return Migration{
		ID: id, Bucket: h["bucket"], Prefix: h["prefix"], Source: h["source"], Queue: h["queue"],
		Sealed: h["sealed"] == "1", Total: f.int("uploads_total"), Completed: f.int("uploads_completed"),
		Failed: f.int("uploads_failed"), Cancelled: f.int("uploads_cancelled"),
		BytesTotal: f.int("bytes_total"), BytesDone: f.int("bytes_done"),
		Skipped: f.int("uploads_skipped"), BytesSkipped: f.int("bytes_skipped"), Started: startedOf(h),
		Created: f.time("created"), Updated: f.time("updated"),
		Pause: pauseOf(h), Controls: controlsOf(h), ReportWritten: f.time("report_written"),
		Fed: h["feed"] != "", FeedPaused: h["feed_paused"], FeedRun: f.int("feed_run"),
	}, nil
}

// MigrationUploads returns up to limit upload IDs of a migration in creation order, starting at offset.
func (s *Store) MigrationUploads(ctx context.Context, migrationID string, offset, limit int64) ([]UploadID, error) {
	ids, err := s.rdb.ZRange(ctx, migrationUploadsKey(migrationID), offset, offset+limit-1).Result()
	if err != nil {
		return nil, fmt.Errorf("state: list uploads of %s: %w", migrationID, err)
	}
	out := make([]UploadID, 0, len(ids))
	for _, raw := range ids {
		id, err := ParseUploadID(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// Upload is an upload record.
type Upload struct {
	ID          UploadID
	Source      string
	Bucket      string
	Key         string
	ContentType string
	Metadata    map[string]string
	Options     ObjectOptions

	// Known once the upload is planned (state uploading or later).
	Size        int64
	Fingerprint string // of the source when it was planned; parts check it before reading
	PartSize    int64
	Parts       int
	S3UploadID  string // empty for objects sent as one PutObject
	// Generation counts the times the upload was reset and planned again (0 for its first
	// plan); part task IDs carry it so a new plan's tasks never collide with an old plan's.
	Generation int64

	State      State
	Version    int64
	PartsDone  int
	BytesDone  int64
	ClaimUntil time.Time // of the finalizer that last moved it to completing
	Error      string    // why it failed
	ETag       string    // of the completed object
	// SkipExisting asks upload:start to complete the upload without uploading when an
	// identical object exists (same size, and same MD5 for objects of one part); Skipped
	// records that it did.
	SkipExisting bool
	Skipped      bool
	Created      time.Time
	Updated      time.Time
	StateSince   time.Time // when it entered State (zero while planned)
	// ArchivedTask is the archived asynq task that last failed the upload (the janitor's).
	ArchivedTask string
	// TraceID is the OpenTelemetry trace of the upload (hex), when its enqueue was traced
	// and sampled; empty otherwise.
	TraceID string
	// FailedAttempts counts its task attempts that ended in an error (see CountAttempt).
	FailedAttempts int64
	// Batch is the upload:batch task that was given this upload while it was planned (empty
	// for an upload that has only its own start task); see CreateUploads (AssignBatch names it afterwards).
	Batch string
	// Compacted: the upload completed in a fed migration and this is what its done entry
	// kept (see done.go); CompactedDuration is its time from creation to completion.
	Compacted         bool
	CompactedDuration time.Duration
	// Fed: the upload was created by a migration's feeder (its completion is compacted).
	Fed bool
}

// NewUpload describes an upload to create in state planned.
type NewUpload struct {
	ID          UploadID
	Source      string
	Bucket      string
	Key         string
	ContentType string
	Metadata    map[string]string
	Options     ObjectOptions
	PartSize    int64 // requested part size; 0 for the default. Planning may grow it.
	// SkipExisting: see Upload.SkipExisting.
	SkipExisting bool
	// TraceID: see Upload.TraceID.
	TraceID string
	// BatchGroup: new uploads of one CreateUploads call with the same BatchGroup (not 0)
	// share an upload:batch task (see Created.Batch). CreateUpload ignores it.
	BatchGroup int
}

// CreateUpload creates an upload in state planned and counts it in its migration, which must
// exist. It reports false, changing nothing, when the upload exists already.
func (s *Store) CreateUpload(ctx context.Context, u NewUpload) (bool, error) {
	u.BatchGroup = 0
	c, err := s.CreateUploads(ctx, []NewUpload{u})
	if err != nil {
		return false, err
	}
	return c[0].New, nil
}

// CreateUploadsMax is the most uploads one CreateUploads call takes.
const CreateUploadsMax = 256

// Created is what CreateUploads did with one upload.
type Created struct {
	// New: the upload was created now (false: it existed already, or finished in an earlier
	// run and its record expired).
	New bool
	// Batch is the upload:batch task ID the new upload was given with the other new uploads
	// of its BatchGroup ("<first new member's ID>:batch", see Upload.Batch); "" when it was
	// the only new one of its group, or has no group: it needs its own start task.
	Batch string
}

// CreateUploads creates, in one script, the uploads us of one migration (which must exist)
// in state planned, counts them in the migration and names the batch task of each
// BatchGroup's new members (see Created). An upload that exists already is left alone.
func (s *Store) CreateUploads(ctx context.Context, us []NewUpload) ([]Created, error) {
	if len(us) > CreateUploadsMax {
		return nil, fmt.Errorf("state: create uploads: %d uploads, at most %d at once", len(us), CreateUploadsMax)
	}
	ids := make([]UploadID, len(us))
	args := make([]any, 0, len(us)*(3+2*len(uploadFieldNames)))
	for i, u := range us {
		ids[i] = u.ID
		rec, err := uploadFields(u)
		if err != nil {
			return nil, err
		}
		delete(rec, "id") // the script writes it from the upload's ID
		args = append(args, u.BatchGroup, u.ID.String(), len(rec))
		for _, name := range uploadFieldNames {
			if v, ok := rec[name]; ok {
				args = append(args, name, v)
			}
		}
		if v, ok := rec["trace_id"]; ok {
			args = append(args, "trace_id", v)
		}
	}
	keys, err := batchKeys(ids)
	if err != nil {
		return nil, err
	}
	res, err := s.run(ctx, createUploadsScript, keys, args...).Result()
	if err != nil {
		return nil, fmt.Errorf("state: create %d uploads (first %s): %w", len(us), ids[0], err)
	}
	if n, ok := res.(int64); ok && n < 0 {
		return nil, fmt.Errorf("state: create upload %s: migration %s: %w", ids[0], ids[0].Migration, ErrNotFound)
	}
	rows, _ := res.([]any)
	if len(rows) != len(us) {
		return nil, fmt.Errorf("state: create uploads: %d answers for %d uploads", len(rows), len(us))
	}
	out := make([]Created, len(rows))
	for i, r := range rows {
		v, _ := r.([]any)
		if len(v) != 2 {
			return nil, fmt.Errorf("state: create uploads: unexpected answer %v for %s", r, ids[i])
		}
		out[i] = Created{New: asInt(v[0]) == 1, Batch: asString(v[1])}
	}
	return out, nil
}

// uploadFieldNames are the fields of a new upload's record, in the order they are written.
var uploadFieldNames = []string{"id", "migration", "source", "bucket", "key", "content_type", "metadata",
	"object_options", "part_size", "skip_existing"}

// uploadFields are the record fields of a new upload (see uploadFieldNames).
func uploadFields(u NewUpload) (map[string]string, error) {
	meta, err := json.Marshal(u.Metadata)
	if err != nil {
		return nil, fmt.Errorf("state: create upload %s: metadata: %w", u.ID, err)
	}
	opts, err := encodeObjectOptions(u.Options)
	if err != nil {
		return nil, err
	}
	rec := map[string]string{"id": u.ID.String(), "migration": u.ID.Migration, "source": u.Source, "bucket": u.Bucket,
		"key": u.Key, "content_type": u.ContentType, "metadata": string(meta), "object_options": opts,
		"part_size": strconv.FormatInt(u.PartSize, 10), "skip_existing": boolField(u.SkipExisting)}
	if u.TraceID != "" {
		rec["trace_id"] = u.TraceID
	}
	return rec, nil
}

// GetUpload reads an upload record.
func (s *Store) GetUpload(ctx context.Context, id UploadID) (Upload, error) {
	h, err := s.rdb.HGetAll(ctx, uploadKeys(id)[0]).Result()
	if err != nil {
		return Upload{}, fmt.Errorf("state: get upload %s: %w", id, err)
	}
	if len(h) == 0 {
		return Upload{}, fmt.Errorf("state: upload %s: %w", id, ErrNotFound)
	}
	return parseUpload(id, h)
}

// parseUpload reads an upload record from its hash.
func parseUpload(id UploadID, h map[string]string) (Upload, error) {
	f := fields(h)
	u := Upload{
		ID: id, Source: h["source"], Bucket: h["bucket"], Key: h["key"], ContentType: h["content_type"],
		Size: f.int("size"), Fingerprint: h["fingerprint"], PartSize: f.int("part_size"),
		Parts: int(f.int("parts")), S3UploadID: h["s3_upload_id"], Generation: f.int("generation"), State: State(h["state"]),
		Version: f.int("version"), PartsDone: int(f.int("parts_done")), BytesDone: f.int("bytes_done"),
		ClaimUntil: f.time("claim_until"), Error: h["error"], ETag: h["etag"],
		SkipExisting: h["skip_existing"] == "1", Skipped: h["skipped"] == "1",
		Created: f.time("created"), Updated: f.time("updated"), StateSince: f.time("state_since"),
		ArchivedTask: h["archived_task"], TraceID: h["trace_id"], FailedAttempts: f.int("failed_attempts"), Batch: h["batch"],
		Fed: h["fed"] == "1",
	}
	opts, err := decodeObjectOptions(h["object_options"])
	if err != nil {
		return Upload{}, fmt.Errorf("state: upload %s: %w", id, err)
	}
	u.Options = opts
	if m := h["metadata"]; m != "" && m != "null" {
		if err := json.Unmarshal([]byte(m), &u.Metadata); err != nil {
			return Upload{}, fmt.Errorf("state: upload %s: metadata: %w", id, err)
		}
	}
	return u, nil
}

// PartETags returns the recorded parts of an upload, sorted by part number.
func (s *Store) PartETags(ctx context.Context, id UploadID) ([]PartETag, error) {
	h, err := s.rdb.HGetAll(ctx, uploadKeys(id)[1]).Result()
	if err != nil {
		return nil, fmt.Errorf("state: parts of %s: %w", id, err)
	}
	parts := make([]PartETag, 0, len(h))
	for k, etag := range h {
		n, err := strconv.Atoi(k)
		if err != nil {
			return nil, fmt.Errorf("state: parts of %s: bad part number %q", id, k)
		}
		parts = append(parts, PartETag{Number: n, ETag: etag})
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	return parts, nil
}

// PartETag is one recorded part.
type PartETag struct {
	Number int
	ETag   string
}

// PartRecorded reports whether part n of an upload is recorded.
func (s *Store) PartRecorded(ctx context.Context, id UploadID, n int) (bool, error) {
	ok, err := s.rdb.HExists(ctx, uploadKeys(id)[1], strconv.Itoa(n)).Result()
	if err != nil {
		return false, fmt.Errorf("state: part %d of %s: %w", n, id, err)
	}
	return ok, nil
}

// Result tells what a script did.
type Result string

// Results of Transition, ClaimComplete and RecordPart; see the scripts for their meaning.
const (
	ResultOK         Result = "ok"
	ResultMissing    Result = "missing"
	ResultStale      Result = "version"    // the version moved on (CAS lost)
	ResultWrongState Result = "state"      // the current state does not allow the change
	ResultClaimed    Result = "claimed"    // another finalizer holds an unexpired claim
	ResultIncomplete Result = "incomplete" // not every part is recorded
	ResultRecorded   Result = "recorded"
	ResultDuplicate  Result = "duplicate"
	ResultChanged    Result = "changed" // a part came back with another ETag: the upload failed
	ResultFenced     Result = "fenced"  // the part belongs to another plan (S3 upload ID, part count): dropped
)

// Outcome is what a transition found or did.
type Outcome struct {
	Result  Result
	State   State // after the transition when Result is OK, else the current one
	Version int64 // likewise
	// MigrationFinished: after this transition (Result OK), the upload's migration is
	// sealed and every upload in it terminal. Only Transition (and the methods built on
	// it) report it.
	MigrationFinished bool
}

// AnyVersion makes a Transition skip the version comparison. It never overrides a live
// finalizer's claim: an upload in completing whose claim has not lapsed is left alone (Claimed).
const AnyVersion int64 = -1

// Transition moves upload id to state `to` if its state is one of `from` and (unless version
// is AnyVersion) its version equals version, writing fields with the change. Fields are
// name/value pairs of the upload record (for example "error", reason).
func (s *Store) Transition(ctx context.Context, id UploadID, version int64, from []State, to State, fields ...string) (Outcome, error) {
	expected := ""
	if version != AnyVersion {
		expected = strconv.FormatInt(version, 10)
	}
	names := make([]string, len(from))
	for i, st := range from {
		names[i] = string(st)
	}
	args := []any{expected, strings.Join(names, " "), string(to)}
	for _, f := range fields {
		args = append(args, f)
	}
	res, err := s.run(ctx, transitionScript, uploadKeys(id), args...).Slice()
	if err != nil {
		return Outcome{}, fmt.Errorf("state: %s → %s: %w", id, to, err)
	}
	out := Outcome{Result: Result(asString(res[0])), State: State(asString(res[1])), Version: asInt(res[2])}
	out.MigrationFinished = len(res) > 3 && asInt(res[3]) == 1
	return out, nil
}

// ResetUpload sends an upload read at version, in one of the states from, back to planned,
// forgetting its plan, its multipart upload and its recorded parts (their bytes leave the
// migration's counters). Used when the multipart upload is gone and the upload starts over.
func (s *Store) ResetUpload(ctx context.Context, id UploadID, version int64, from ...State) (Outcome, error) {
	names := make([]string, len(from))
	for i, st := range from {
		names[i] = string(st)
	}
	res, err := s.run(ctx, resetUploadScript, uploadKeys(id), version, strings.Join(names, " ")).Slice()
	if err != nil {
		return Outcome{}, fmt.Errorf("state: reset %s: %w", id, err)
	}
	return Outcome{Result: Result(asString(res[0])), State: State(asString(res[1])), Version: asInt(res[2])}, nil
}

// UploadPlan is what upload:start learned about the source and decided about the parts.
type UploadPlan struct {
	Size        int64
	Fingerprint string
	PartSize    int64
	Parts       int
	S3UploadID  string
}

func (p UploadPlan) fields() []string {
	return []string{
		"size", strconv.FormatInt(p.Size, 10), "fingerprint", p.Fingerprint,
		"part_size", strconv.FormatInt(p.PartSize, 10), "parts", strconv.Itoa(p.Parts),
		"s3_upload_id", p.S3UploadID,
	}
}

// StartUploading moves a planned upload (read at version) to uploading with its plan.
func (s *Store) StartUploading(ctx context.Context, id UploadID, version int64, p UploadPlan) (Outcome, error) {
	return s.Transition(ctx, id, version, []State{Planned}, Uploading, p.fields()...)
}

// CompleteSingle moves a planned upload (read at version) that went as one PutObject to completed.
func (s *Store) CompleteSingle(ctx context.Context, id UploadID, version int64, p UploadPlan, etag string) (Outcome, error) {
	return s.Transition(ctx, id, version, []State{Planned}, Completed, append(p.fields(), "etag", etag)...)
}

// CompleteSingleAfterCancel records the truth when a cancel (read at version) overtook a single
// PutObject that landed anyway: the object is in S3, so the upload moves from cancelled to
// completed with its plan and ETag, and the migration counts it completed, not cancelled.
func (s *Store) CompleteSingleAfterCancel(ctx context.Context, id UploadID, version int64, p UploadPlan, etag string) (Outcome, error) {
	return s.Transition(ctx, id, version, []State{Cancelled}, Completed, append(p.fields(), "etag", etag, "error", "")...)
}

// CompleteSkipped moves a planned upload (read at version) to completed without uploading,
// because an identical object exists; etag is that object's. The migration counts it as
// completed and as skipped.
func (s *Store) CompleteSkipped(ctx context.Context, id UploadID, version int64, p UploadPlan, etag string) (Outcome, error) {
	return s.Transition(ctx, id, version, []State{Planned}, Completed, append(p.fields(), "etag", etag, "skipped", "1")...)
}

// Fail moves a live upload to failed with a reason a user can read. It does nothing to an
// upload that is already terminal, nor to one whose finalizer holds an unexpired claim
// (Claimed): that upload is its finalizer's to complete or fail.
func (s *Store) Fail(ctx context.Context, id UploadID, reason string) (Outcome, error) {
	return s.Transition(ctx, id, AnyVersion, []State{Planned, Uploading, Completing}, Failed, "error", reason)
}

// Claim is the finalizer's hold on an upload in state completing.
type Claim struct {
	Outcome
	Until time.Time // when the claim lapses and another finalizer may take over
}

// ClaimComplete is the finalizer's CAS: it moves an upload read at version from uploading
// (or completing, when the previous claim has lapsed) to completing, holding the claim for d.
// The returned version is the caller's token for Complete.
func (s *Store) ClaimComplete(ctx context.Context, id UploadID, version int64, d time.Duration) (Claim, error) {
	res, err := s.run(ctx, claimCompleteScript, uploadKeys(id), version, d.Milliseconds()).Slice()
	if err != nil {
		return Claim{}, fmt.Errorf("state: claim completion of %s: %w", id, err)
	}
	return Claim{
		Outcome: Outcome{Result: Result(asString(res[0])), State: State(asString(res[1])), Version: asInt(res[2])},
		Until:   time.UnixMilli(asInt(res[3])),
	}, nil
}

// Complete moves an upload from completing to completed if its version is still the one its
// claim returned, recording the object's ETag.
func (s *Store) Complete(ctx context.Context, id UploadID, version int64, etag string) (Outcome, error) {
	return s.Transition(ctx, id, version, []State{Completing}, Completed, "etag", etag)
}

// PartOutcome is what RecordPart found or did.
type PartOutcome struct {
	Result    Result
	State     State
	PartsDone int
	Parts     int
}

// AllDone reports whether every part of the upload is recorded.
func (p PartOutcome) AllDone() bool { return p.Parts > 0 && p.PartsDone >= p.Parts }

// PartFence names the plan a part belongs to: the S3 multipart upload it was uploaded to and
// the plan's part count. A part is recorded only while both are the upload's current ones.
type PartFence struct {
	S3UploadID string
	Parts      int
}

// Fence is the fence of the upload's current plan.
func (u Upload) Fence() PartFence { return PartFence{S3UploadID: u.S3UploadID, Parts: u.Parts} }

// RecordPart records part n with its ETag and length, if it belongs to the upload's current
// plan (fence); a part of another plan is dropped (Fenced). Recording the same ETag again
// changes nothing; a different ETag fails the upload (the source changed).
func (s *Store) RecordPart(ctx context.Context, id UploadID, fence PartFence, n int, etag string, length int64) (PartOutcome, error) {
	res, err := s.run(ctx, recordPartScript, uploadKeys(id), n, etag, length, fence.S3UploadID, fence.Parts).Slice()
	if err != nil {
		return PartOutcome{}, fmt.Errorf("state: record part %d of %s: %w", n, id, err)
	}
	return PartOutcome{Result: Result(asString(res[0])), State: State(asString(res[1])),
		PartsDone: int(asInt(res[2])), Parts: int(asInt(res[3]))}, nil
}

// fields reads typed values from a record hash.
type fields map[string]string

func (f fields) int(name string) int64 {
	n, _ := strconv.ParseInt(f[name], 10, 64)
	return n
}

func (f fields) time(name string) time.Time {
	ms := f.int(name)
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// boolField is a bool as a record stores it.
func boolField(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

func asInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	}
	return 0
}

// startedOf reads a migration's uploads_started counter, -1 when the record has none.
func startedOf(h map[string]string) int64 {
	v, ok := h["uploads_started"]
	if !ok {
		return -1
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}
