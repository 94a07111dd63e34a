package state_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
)

// Uploads of one key are ordered by creation: a newer one supersedes an older one, waits while
// an older one holds the write lease, and takes the lease once it is given back or lapses.
func TestClaimDestinationOrdersUploadsOfOneKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := time.Now()
	older := state.Upload{ID: state.UploadID{Migration: "m-a", Name: "0000000000000001"}, Bucket: "bkt", Key: "k", Created: now}
	newer := state.Upload{ID: state.UploadID{Migration: "m-b", Name: "0000000000000002"}, Bucket: "bkt", Key: "k", Created: now.Add(time.Millisecond)}
	other := state.Upload{ID: state.UploadID{Migration: "m-c", Name: "0000000000000003"}, Bucket: "bkt", Key: "other", Created: now}
	claim := func(u state.Upload, lease time.Duration) state.DestinationClaim {
		t.Helper()
		c, err := b.store.ClaimDestination(b.ctx, u, lease)
		require.NoError(t, err)
		return c
	}

	require.Equal(t, state.DestinationClaim{Result: state.DestinationOK, By: older.ID.String()}, claim(older, time.Minute),
		"the older upload starts writing")
	require.Equal(t, state.DestinationClaim{Result: state.DestinationBusy, By: older.ID.String()}, claim(newer, time.Minute),
		"the newer one waits for the write in flight")
	require.Equal(t, state.DestinationOK, claim(other, time.Minute).Result, "another key is not affected")
	require.Equal(t, state.DestinationClaim{Result: state.DestinationSuperseded, By: newer.ID.String()}, claim(older, 0),
		"once the newer one is known, the older one stands down")
	require.NoError(t, b.store.ReleaseDestination(b.ctx, newer), "releasing a lease one does not hold changes nothing")
	require.Equal(t, state.DestinationBusy, claim(newer, time.Minute).Result)
	require.NoError(t, b.store.ReleaseDestination(b.ctx, older))
	require.Equal(t, state.DestinationClaim{Result: state.DestinationOK, By: newer.ID.String()}, claim(newer, time.Millisecond))

	// A lease that lapses (its holder died) does not block the key for ever.
	later := state.Upload{ID: state.UploadID{Migration: "m-d", Name: "0000000000000004"}, Bucket: "bkt", Key: "k", Created: now.Add(time.Second)}
	deadline := time.Now().Add(10 * time.Second)
	for claim(later, time.Minute).Result != state.DestinationOK {
		require.True(t, time.Now().Before(deadline), "waited 10s for a 1ms lease to lapse")
		time.Sleep(5 * time.Millisecond)
	}
	ttl, err := b.rdb.PTTL(b.ctx, "partflow:{dest:"+destHash("bkt", "k")+"}").Result()
	require.NoError(t, err)
	require.Positive(t, ttl, "the key has a bounded life")
}

func destHash(bucket, key string) string {
	sum := sha256.Sum256([]byte(bucket + "\x00" + key))
	return hex.EncodeToString(sum[:16])
}
