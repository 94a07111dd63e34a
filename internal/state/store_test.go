package state_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
)

type bundle struct {
	ctx   context.Context
	rdb   *redis.Client
	store *state.Store
}

// setup starts a throwaway redis-server for the test.
func setup(t *testing.T) bundle {
	t.Helper()
	rdb := testenv.RedisClient(t, testenv.Redis(t))
	store, err := state.New(rdb, state.Config{Retention: time.Hour})
	require.NoError(t, err)
	return bundle{ctx: t.Context(), rdb: rdb, store: store}
}

// newUpload creates a sealed migration of one planned upload.
func (b bundle) newUpload(t *testing.T) state.UploadID {
	t.Helper()
	mid := state.NewMigrationID()
	created, err := b.store.CreateMigration(b.ctx, state.NewMigration{ID: mid, Bucket: "bkt", Queue: "default"})
	require.NoError(t, err)
	require.True(t, created)
	id := state.DeriveUploadID(mid, "bkt", "key")
	created, err = b.store.CreateUpload(b.ctx, state.NewUpload{ID: id, Source: "a/b", Bucket: "bkt", Key: "key",
		Metadata: map[string]string{"owner": "ops"}})
	require.NoError(t, err)
	require.True(t, created)
	require.NoError(t, b.store.SealMigration(b.ctx, mid))
	return id
}

// startUploading plans the upload with the given number of 5-byte parts.
func (b bundle) startUploading(t *testing.T, id state.UploadID, parts int) state.Upload {
	t.Helper()
	u, err := b.store.GetUpload(b.ctx, id)
	require.NoError(t, err)
	out, err := b.store.StartUploading(b.ctx, id, u.Version, state.UploadPlan{
		Size: int64(parts * 5), Fingerprint: "fp", PartSize: 5, Parts: parts, S3UploadID: "s3id"})
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, out.Result)
	u, err = b.store.GetUpload(b.ctx, id)
	require.NoError(t, err)
	return u
}

// fence is the part fence of the upload's current plan.
func (b bundle) fence(t *testing.T, id state.UploadID) state.PartFence {
	t.Helper()
	u, err := b.store.GetUpload(b.ctx, id)
	require.NoError(t, err)
	return u.Fence()
}

func TestCreateUploadIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newUpload(t)

	created, err := b.store.CreateUpload(b.ctx, state.NewUpload{ID: id, Source: "other", Bucket: "bkt", Key: "key"})
	require.NoError(t, err)
	require.False(t, created, "second create of the same upload must be a no-op")

	u, err := b.store.GetUpload(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Planned, u.State)
	require.Equal(t, "a/b", u.Source, "the first record must be kept")
	require.Equal(t, map[string]string{"owner": "ops"}, u.Metadata)
	require.EqualValues(t, 1, u.Version)

	m, err := b.store.GetMigration(b.ctx, id.Migration)
	require.NoError(t, err)
	require.EqualValues(t, 1, m.Total)
	ids, err := b.store.MigrationUploads(b.ctx, id.Migration, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []state.UploadID{id}, ids)
}

func TestCreateUploadNeedsMigration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.CreateUpload(b.ctx, state.NewUpload{ID: state.DeriveUploadID("nomigration", "k")})
	require.ErrorIs(t, err, state.ErrNotFound)
}

func TestGetMissing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.GetUpload(b.ctx, state.DeriveUploadID("m1", "x"))
	require.ErrorIs(t, err, state.ErrNotFound)
	_, err = b.store.GetMigration(b.ctx, "m1")
	require.ErrorIs(t, err, state.ErrNotFound)
}

func TestStartUploadingIsACompareAndSwap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newUpload(t)
	plan := state.UploadPlan{Size: 10, Fingerprint: "fp", PartSize: 5, Parts: 2, S3UploadID: "s3"}

	out, err := b.store.StartUploading(b.ctx, id, 7, plan)
	require.NoError(t, err)
	require.Equal(t, state.ResultStale, out.Result, "a stale version must lose")

	out, err = b.store.StartUploading(b.ctx, id, 1, plan)
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, out.Result)
	require.Equal(t, state.Uploading, out.State)
	require.EqualValues(t, 2, out.Version)

	out, err = b.store.StartUploading(b.ctx, id, 2, plan)
	require.NoError(t, err)
	require.Equal(t, state.ResultWrongState, out.Result, "uploading cannot be planned again")

	m, err := b.store.GetMigration(b.ctx, id.Migration)
	require.NoError(t, err)
	require.EqualValues(t, 10, m.BytesTotal)
}

func TestRecordPart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newUpload(t)
	b.startUploading(t, id, 2)

	out, err := b.store.RecordPart(b.ctx, id, b.fence(t, id), 1, "etag1", 5)
	require.NoError(t, err)
	require.Equal(t, state.PartOutcome{Result: state.ResultRecorded, State: state.Uploading, PartsDone: 1, Parts: 2}, out)

	out, err = b.store.RecordPart(b.ctx, id, b.fence(t, id), 1, "etag1", 5)
	require.NoError(t, err)
	require.Equal(t, state.ResultDuplicate, out.Result)
	require.Equal(t, 1, out.PartsDone, "a duplicate must not count twice")

	out, err = b.store.RecordPart(b.ctx, id, b.fence(t, id), 2, "etag2", 5)
	require.NoError(t, err)
	require.True(t, out.AllDone())

	u, err := b.store.GetUpload(b.ctx, id)
	require.NoError(t, err)
	require.EqualValues(t, 10, u.BytesDone)
	require.EqualValues(t, 4, u.Version, "planned(1) → uploading(2) → two parts recorded (4)")
	parts, err := b.store.PartETags(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, []state.PartETag{{Number: 1, ETag: "etag1"}, {Number: 2, ETag: "etag2"}}, parts)
}

func TestRecordPartWithAnotherETagFailsTheUpload(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newUpload(t)
	b.startUploading(t, id, 3)

	_, err := b.store.RecordPart(b.ctx, id, b.fence(t, id), 2, "aaaa", 5)
	require.NoError(t, err)
	out, err := b.store.RecordPart(b.ctx, id, b.fence(t, id), 2, "bbbb", 5)
	require.NoError(t, err)
	require.Equal(t, state.ResultChanged, out.Result)

	u, err := b.store.GetUpload(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Failed, u.State)
	require.Contains(t, u.Error, "source changed")
	m, err := b.store.GetMigration(b.ctx, id.Migration)
	require.NoError(t, err)
	require.EqualValues(t, 1, m.Failed)

	out, err = b.store.RecordPart(b.ctx, id, b.fence(t, id), 3, "cccc", 5)
	require.NoError(t, err)
	require.Equal(t, state.ResultWrongState, out.Result, "a failed upload records nothing")
}

func TestRecordPartRace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newUpload(t)
	const parts = 20
	fence := b.startUploading(t, id, parts).Fence()

	// 10 goroutines per part, all recording the same ETag at once.
	var wg sync.WaitGroup
	results := make(chan state.Result, parts*10)
	for n := 1; n <= parts; n++ {
		for range 10 {
			wg.Go(func() {
				out, err := b.store.RecordPart(b.ctx, id, fence, n, "etag", 5)
				if err != nil {
					t.Error(err)
					return
				}
				results <- out.Result
			})
		}
	}
	wg.Wait()
	close(results)
	count := map[state.Result]int{}
	for r := range results {
		count[r]++
	}
	require.Equal(t, map[state.Result]int{state.ResultRecorded: parts, state.ResultDuplicate: parts * 9}, count)
	u, err := b.store.GetUpload(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, parts, u.PartsDone)
	require.EqualValues(t, parts*5, u.BytesDone)
}

func TestClaimCompleteRace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newUpload(t)
	u := b.startUploading(t, id, 1)

	out, err := b.store.ClaimComplete(b.ctx, id, u.Version, time.Minute)
	require.NoError(t, err)
	require.Equal(t, state.ResultIncomplete, out.Result, "no claim before every part is recorded")

	_, err = b.store.RecordPart(b.ctx, id, b.fence(t, id), 1, "e", 5)
	require.NoError(t, err)
	u, err = b.store.GetUpload(b.ctx, id)
	require.NoError(t, err)

	var wg sync.WaitGroup
	claims := make(chan state.Claim, 50)
	for range 50 {
		wg.Go(func() {
			c, err := b.store.ClaimComplete(b.ctx, id, u.Version, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			claims <- c
		})
	}
	wg.Wait()
	close(claims)
	var won []state.Claim
	for c := range claims {
		if c.Result == state.ResultOK {
			won = append(won, c)
		} else {
			require.Contains(t, []state.Result{state.ResultStale, state.ResultClaimed}, c.Result)
		}
	}
	require.Len(t, won, 1, "exactly one finalizer must win the CAS")

	// Another finalizer that read the new version still cannot take over an unexpired claim.
	c, err := b.store.ClaimComplete(b.ctx, id, won[0].Version, time.Minute)
	require.NoError(t, err)
	require.Equal(t, state.ResultClaimed, c.Result)

	out2, err := b.store.Complete(b.ctx, id, won[0].Version, "final-2")
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, out2.Result)
	out2, err = b.store.Complete(b.ctx, id, won[0].Version, "final-2")
	require.NoError(t, err)
	require.NotEqual(t, state.ResultOK, out2.Result, "exactly one transition to completed")
}

func TestLapsedClaimIsTakenOverAndTheDeadFinalizerLoses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newUpload(t)
	u := b.startUploading(t, id, 1)
	_, err := b.store.RecordPart(b.ctx, id, b.fence(t, id), 1, "e", 5)
	require.NoError(t, err)
	u, err = b.store.GetUpload(b.ctx, id)
	require.NoError(t, err)

	dead, err := b.store.ClaimComplete(b.ctx, id, u.Version, time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, dead.Result)

	var next state.Claim
	require.Eventually(t, func() bool {
		next, err = b.store.ClaimComplete(b.ctx, id, dead.Version, time.Minute)
		return err == nil && next.Result == state.ResultOK
	}, 5*time.Second, 5*time.Millisecond, "waiting for the 1ms claim to lapse so a new finalizer can claim")
	require.Greater(t, next.Version, dead.Version)

	late, err := b.store.Complete(b.ctx, id, dead.Version, "x")
	require.NoError(t, err)
	require.Equal(t, state.ResultStale, late.Result, "the dead finalizer's late write must lose")

	done, err := b.store.Complete(b.ctx, id, next.Version, "x")
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, done.Result)
}

func TestTerminalRecordsExpireAndMigrationSettles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newUpload(t)
	b.startUploading(t, id, 1)
	keyTTL := func(pattern string) time.Duration {
		keys, err := b.rdb.Keys(b.ctx, pattern).Result()
		require.NoError(t, err)
		require.Len(t, keys, 1, pattern)
		ttl, err := b.rdb.TTL(b.ctx, keys[0]).Result()
		require.NoError(t, err)
		return ttl
	}
	uploadPattern := "partflow:{" + id.Migration + "}:upload:" + id.String()
	migrationPattern := "partflow:{" + id.Migration + "}:migration"
	const idle = 30 * 24 * time.Hour // state.Config.IdleExpiry's default
	require.InDelta(t, idle.Seconds(), keyTTL(uploadPattern).Seconds(), 5, "a live upload expires only when idle for the idle expiry")

	out, err := b.store.Fail(b.ctx, id, "boom")
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, out.Result)
	require.InDelta(t, time.Hour.Seconds(), keyTTL(uploadPattern).Seconds(), 5)
	require.InDelta(t, time.Hour.Seconds(), keyTTL(migrationPattern).Seconds(), 5,
		"a sealed migration whose uploads are all terminal expires")

	// failed → uploading (resume) keeps everything again.
	out, err = b.store.Transition(b.ctx, id, out.Version, []state.State{state.Failed}, state.Uploading)
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, out.Result)
	require.InDelta(t, idle.Seconds(), keyTTL(uploadPattern).Seconds(), 5)
	require.InDelta(t, idle.Seconds(), keyTTL(migrationPattern).Seconds(), 5)
	m, err := b.store.GetMigration(b.ctx, id.Migration)
	require.NoError(t, err)
	require.EqualValues(t, 0, m.Failed, "leaving failed must uncount it")

	out, err = b.store.Fail(b.ctx, id, "again")
	require.NoError(t, err)
	out, err = b.store.Fail(b.ctx, id, "twice")
	require.NoError(t, err)
	require.Equal(t, state.ResultWrongState, out.Result, "a terminal upload is not failed twice")
	m, err = b.store.GetMigration(b.ctx, id.Migration)
	require.NoError(t, err)
	require.EqualValues(t, 1, m.Failed)
	require.True(t, m.Finished())
}

func TestCompleteSingleCountsBytes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newUpload(t)
	out, err := b.store.CompleteSingle(b.ctx, id, 1, state.UploadPlan{Size: 42, Fingerprint: "fp", PartSize: 100, Parts: 1}, "md5")
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, out.Result)
	m, err := b.store.GetMigration(b.ctx, id.Migration)
	require.NoError(t, err)
	require.Equal(t, [4]int64{1, 1, 42, 42}, [4]int64{m.Total, m.Completed, m.BytesTotal, m.BytesDone})
	u, err := b.store.GetUpload(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, "md5", u.ETag)
	require.Equal(t, 1, u.PartsDone, "a single PUT is its one part")
}

func TestEventsArePublished(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sub := b.rdb.Subscribe(b.ctx, state.EventsChannel)
	defer sub.Close()
	_, err := sub.Receive(b.ctx) // subscription confirmed
	require.NoError(t, err)

	id := b.newUpload(t)
	b.startUploading(t, id, 1)
	_, err = b.store.RecordPart(b.ctx, id, b.fence(t, id), 1, "e", 5)
	require.NoError(t, err)

	var states []string
	for len(states) < 3 {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		msg, err := sub.ReceiveMessage(ctx)
		cancel()
		require.NoError(t, err, "waiting for event %d (got %v)", len(states)+1, states)
		var ev struct {
			Upload    string `json:"upload"`
			State     string `json:"state"`
			PartsDone int    `json:"parts_done"`
		}
		require.NoError(t, json.Unmarshal([]byte(msg.Payload), &ev))
		require.Equal(t, id.String(), ev.Upload)
		states = append(states, ev.State)
	}
	require.Equal(t, []string{"planned", "uploading", "uploading"}, states)
}

func TestListings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ids []state.UploadID
	for range 3 {
		ids = append(ids, b.newUpload(t))
	}
	ms, total, err := b.store.ListMigrations(b.ctx, 0, 2)
	require.NoError(t, err)
	require.EqualValues(t, 3, total)
	require.Len(t, ms, 2)

	_, err = b.store.Fail(b.ctx, ids[0], "boom")
	require.NoError(t, err)
	failed, n, err := b.store.FailedUploads(b.ctx, ids[0].Migration, 0, 10)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.Equal(t, []state.UploadID{ids[0]}, failed)

	ups, err := b.store.GetUploads(b.ctx, append(ids, state.DeriveUploadID("gone", "x")))
	require.NoError(t, err)
	require.Len(t, ups, 3, "missing uploads are left out")
	require.Equal(t, state.Failed, ups[0].State)
	require.Equal(t, "boom", ups[0].Error)

	count, err := b.store.CountMigrationUploads(b.ctx, ids[1].Migration)
	require.NoError(t, err)
	require.EqualValues(t, 1, count)

	// Resuming takes it off the failed list.
	u, err := b.store.GetUpload(b.ctx, ids[0])
	require.NoError(t, err)
	_, err = b.store.Transition(b.ctx, ids[0], u.Version, []state.State{state.Failed}, state.Planned)
	require.NoError(t, err)
	_, n, err = b.store.FailedUploads(b.ctx, ids[0].Migration, 0, 10)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestResetUploadStartsOver(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newUpload(t)
	u := b.startUploading(t, id, 2)
	_, err := b.store.RecordPart(b.ctx, id, b.fence(t, id), 1, "e1", 5)
	require.NoError(t, err)
	out, err := b.store.Fail(b.ctx, id, "boom")
	require.NoError(t, err)

	stale, err := b.store.ResetUpload(b.ctx, id, u.Version, state.Failed)
	require.NoError(t, err)
	require.Equal(t, state.ResultStale, stale.Result)

	out, err = b.store.ResetUpload(b.ctx, id, out.Version, state.Failed)
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, out.Result)
	u, err = b.store.GetUpload(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Planned, u.State)
	require.Zero(t, u.PartsDone)
	require.Empty(t, u.S3UploadID)
	require.Empty(t, u.Error)
	parts, err := b.store.PartETags(b.ctx, id)
	require.NoError(t, err)
	require.Empty(t, parts)
	m, err := b.store.GetMigration(b.ctx, id.Migration)
	require.NoError(t, err)
	require.Equal(t, [3]int64{0, 0, 0}, [3]int64{m.BytesTotal, m.BytesDone, m.Failed})
}

func TestLiveIndexTracksNonTerminalUploads(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newUpload(t)
	live, err := b.store.StalledUploads(b.ctx, id.Migration, time.Now().Add(time.Minute), 10)
	require.NoError(t, err)
	require.Equal(t, []state.UploadID{id}, live, "a planned upload is live")
	live, err = b.store.StalledUploads(b.ctx, id.Migration, time.Now().Add(-time.Minute), 10)
	require.NoError(t, err)
	require.Empty(t, live, "it changed less than a minute ago")
	_, err = b.store.Fail(b.ctx, id, "x")
	require.NoError(t, err)
	live, err = b.store.StalledUploads(b.ctx, id.Migration, time.Now().Add(time.Minute), 10)
	require.NoError(t, err)
	require.Empty(t, live, "a failed upload is not live")
}

func TestNewUploadReopensASealedMigration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newUpload(t) // its migration is sealed
	_, err := b.store.Fail(b.ctx, id, "x")
	require.NoError(t, err)
	m, err := b.store.GetMigration(b.ctx, id.Migration)
	require.NoError(t, err)
	require.True(t, m.Finished())

	more := state.DeriveUploadID(id.Migration, "bkt", "key2")
	created, err := b.store.CreateUpload(b.ctx, state.NewUpload{ID: more, Source: "a/c", Bucket: "bkt", Key: "key2"})
	require.NoError(t, err)
	require.True(t, created)
	m, err = b.store.GetMigration(b.ctx, id.Migration)
	require.NoError(t, err)
	require.False(t, m.Sealed, "a re-run that adds an upload reopens the migration")
	require.False(t, m.Finished())
	ttl, err := b.rdb.TTL(b.ctx, "partflow:{"+id.Migration+"}:migration").Result()
	require.NoError(t, err)
	require.InDelta(t, (30 * 24 * time.Hour).Seconds(), ttl.Seconds(), 5,
		"a reopened migration expires only when idle for the idle expiry, no longer after the retention")

	created, err = b.store.CreateUpload(b.ctx, state.NewUpload{ID: id, Source: "a/b", Bucket: "bkt", Key: "key"})
	require.NoError(t, err)
	require.False(t, created)
	require.NoError(t, b.store.SealMigration(b.ctx, id.Migration))
	m, err = b.store.GetMigration(b.ctx, id.Migration)
	require.NoError(t, err)
	require.True(t, m.Sealed)
}

// TestFailLeavesALiveClaimToItsFinalizer: Fail (and any transition at AnyVersion) does not
// override a finalizer's unexpired claim: the completing upload is left to its finalizer, which
// alone may fail it (with its claim's version). Once the claim has lapsed, Fail works.
func TestFailLeavesALiveClaimToItsFinalizer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	claimed := func(d time.Duration) (state.UploadID, state.Claim) {
		id := b.newUpload(t)
		u := b.startUploading(t, id, 1)
		_, err := b.store.RecordPart(b.ctx, id, u.Fence(), 1, "e", 5)
		require.NoError(t, err)
		u, err = b.store.GetUpload(b.ctx, id)
		require.NoError(t, err)
		c, err := b.store.ClaimComplete(b.ctx, id, u.Version, d)
		require.NoError(t, err)
		require.Equal(t, state.ResultOK, c.Result)
		return id, c
	}

	id, c := claimed(time.Minute)
	out, err := b.store.Fail(b.ctx, id, "a late part task gave up")
	require.NoError(t, err)
	require.Equal(t, state.ResultClaimed, out.Result, "a live claim is not overridden")
	out, err = b.store.Transition(b.ctx, id, state.AnyVersion, []state.State{state.Completing}, state.Cancelled)
	require.NoError(t, err)
	require.Equal(t, state.ResultClaimed, out.Result, "nor by any other change at any version")
	u, err := b.store.GetUpload(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Completing, u.State)
	require.Empty(t, u.Error)
	out, err = b.store.Transition(b.ctx, id, c.Version, []state.State{state.Completing}, state.Failed, "error", "verification failed")
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, out.Result, "the claim's holder may fail it")

	lapsed, _ := claimed(time.Millisecond)
	require.Eventually(t, func() bool {
		out, err = b.store.Fail(b.ctx, lapsed, "the finalizer died")
		return err == nil && out.Result == state.ResultOK
	}, 5*time.Second, 5*time.Millisecond, "waiting for Fail to succeed once the 1ms claim lapsed")
}

// TestEveryKeyHasABoundedLife: every key of a migration — unsealed (a put whose seal failed, an
// interrupted migrate never run again), with a live upload that recorded parts, a failed one and
// a completed one — carries an expiry, so nothing outlives the idle expiry without a change.
func TestEveryKeyHasABoundedLife(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisClient(t, testenv.Redis(t))
	store, err := state.New(rdb, state.Config{Retention: time.Hour, IdleExpiry: 2 * time.Hour})
	require.NoError(t, err)
	b := bundle{ctx: t.Context(), rdb: rdb, store: store}
	mid := state.NewMigrationID()
	_, err = store.CreateMigration(b.ctx, state.NewMigration{ID: mid, Bucket: "bkt", Queue: "default"})
	require.NoError(t, err)
	var ids []state.UploadID
	for _, key := range []string{"live", "failed", "done"} {
		id := state.DeriveUploadID(mid, "bkt", key)
		_, err := store.CreateUpload(b.ctx, state.NewUpload{ID: id, Source: key, Bucket: "bkt", Key: key})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	live := b.startUploading(t, ids[0], 3)
	_, err = store.RecordPart(b.ctx, ids[0], live.Fence(), 1, "e1", 5)
	require.NoError(t, err)
	b.startUploading(t, ids[1], 2)
	_, err = store.Fail(b.ctx, ids[1], "boom")
	require.NoError(t, err)
	_, err = store.CompleteSingle(b.ctx, ids[2], 1, state.UploadPlan{Size: 5, Fingerprint: "fp", PartSize: 5, Parts: 1}, "e")
	require.NoError(t, err)
	// Never sealed.

	keys, err := rdb.Keys(b.ctx, "partflow:{"+mid+"}:*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 4+3+1, "migration, 3 indexes, 3 upload hashes, 1 parts hash (of the live upload)")
	for _, k := range keys {
		ttl, err := rdb.TTL(b.ctx, k).Result()
		require.NoError(t, err)
		require.Greater(t, ttl, time.Duration(0), "%s must expire", k)
		require.LessOrEqual(t, ttl, 2*time.Hour, "%s", k)
	}
}

// TestRerunAfterRecordsExpiredDoesNotDoubleCount: an unsealed migration whose completed upload's
// record expired (its retention is shorter than the migration's idle expiry) is run again: the
// upload is not created and counted a second time.
func TestRerunAfterRecordsExpiredDoesNotDoubleCount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid := state.NewMigrationID()
	_, err := b.store.CreateMigration(b.ctx, state.NewMigration{ID: mid, Bucket: "bkt", Queue: "default"})
	require.NoError(t, err)
	id := state.DeriveUploadID(mid, "bkt", "k")
	req := state.NewUpload{ID: id, Source: "f", Bucket: "bkt", Key: "k"}
	created, err := b.store.CreateUpload(b.ctx, req)
	require.NoError(t, err)
	require.True(t, created)
	_, err = b.store.CompleteSingle(b.ctx, id, 1, state.UploadPlan{Size: 5, Fingerprint: "fp", PartSize: 5, Parts: 1}, "e")
	require.NoError(t, err)
	keys, err := b.rdb.Keys(b.ctx, "partflow:{"+mid+"}:upload:*").Result()
	require.NoError(t, err)
	require.NoError(t, b.rdb.Del(b.ctx, keys...).Err()) // its retention ran out

	created, err = b.store.CreateUpload(b.ctx, req) // the re-run
	require.NoError(t, err)
	require.False(t, created, "an upload the migration counted already is not created again")
	m, err := b.store.GetMigration(b.ctx, mid)
	require.NoError(t, err)
	require.Equal(t, [4]int64{1, 1, 5, 5}, [4]int64{m.Total, m.Completed, m.BytesTotal, m.BytesDone},
		"total, completed, bytes total, bytes done: counted once")
}
