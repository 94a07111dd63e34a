package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// A destination (bucket + key) has one key of its own, in its own Cluster slot, that orders
// the uploads writing it across migrations (claim_destination.lua):
//
//	partflow:{dest:<32 hex digits of sha256(bucket NUL key)>}   hash: newest upload, write leases (lease:<upload ID>)
//
// It lives as long as the store's retention after its last use, except for an upload of a fed
// (windowed) migration: when it is the destination's newest and gives back its write lease,
// the key is dropped, so a windowed migration keeps destination keys only for the uploads
// writing now (a key per completed object for the retention would be ~230 B each, more than
// the rest of a completed upload: see the windowed e2e test). A key on which a second upload
// made itself known (the "shared" field) is kept, so an older upload planned before the newer
// one wrote stays superseded. The price: an older upload of the same key from another
// migration that is planned only after the newer one wrote (and dropped the key) is no longer
// superseded.

// destinationKey is the key of one destination's ordering.
func destinationKey(bucket, key string) string {
	sum := sha256.Sum256([]byte(bucket + "\x00" + key))
	return keyPrefix + "{dest:" + hex.EncodeToString(sum[:16]) + "}"
}

var (
	claimDestinationScript   = rawScript("claim_destination.lua")
	releaseDestinationScript = rawScript("release_destination.lua")
)

// rawScript loads a script that does not use lib.lua.
func rawScript(name string) *redis.Script {
	b, err := scriptFiles.ReadFile("scripts/" + name)
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return redis.NewScript(string(b))
}

// DestinationResult is what ClaimDestination found.
type DestinationResult string

const (
	// DestinationOK: the upload is the destination's newest (and holds the write lease if
	// it asked for it).
	DestinationOK DestinationResult = "ok"
	// DestinationSuperseded: a newer upload of the destination exists; Claim.By names it.
	DestinationSuperseded DestinationResult = "superseded"
	// DestinationBusy: the upload is the newest, but an older one holds the write lease
	// (its PutObject or Complete is under way); Claim.By names it. Try again later.
	DestinationBusy DestinationResult = "busy"
)

// DestinationClaim is ClaimDestination's answer.
type DestinationClaim struct {
	Result DestinationResult
	By     string // the upload that decided: the newest, or the lease holder
}

// ClaimDestination orders u among the uploads of its bucket and key: uploads created later
// are newer (ties broken by ID), and a newer upload supersedes an older one that has not
// written yet. With lease > 0 it also takes the write lease for that long, so that an older
// upload's write in flight ends before a newer one starts.
func (s *Store) ClaimDestination(ctx context.Context, u Upload, lease time.Duration) (DestinationClaim, error) {
	rank := fmt.Sprintf("%013d|%s", u.Created.UnixMilli(), u.ID)
	take := "0"
	if lease > 0 {
		take = "1"
	}
	life := max(s.retentionDuration(), 2*lease)
	res, err := claimDestinationScript.Run(ctx, s.rdb, []string{destinationKey(u.Bucket, u.Key)},
		rank, u.ID.String(), take, lease.Milliseconds(), time.Now().UnixMilli(), life.Milliseconds()).StringSlice()
	if err != nil {
		return DestinationClaim{}, fmt.Errorf("state: claim destination %s/%s for %s: %w", u.Bucket, u.Key, u.ID, err)
	}
	if len(res) != 2 {
		return DestinationClaim{}, fmt.Errorf("state: claim destination: unexpected answer %q", res)
	}
	return DestinationClaim{Result: DestinationResult(res[0]), By: res[1]}, nil
}

// ReleaseDestination gives back u's write lease, if it still holds it: one HDEL of u's own
// lease field (no script), which cannot touch another upload's lease; for an upload of a fed
// migration that is the destination's newest, the key is dropped instead.
func (s *Store) ReleaseDestination(ctx context.Context, u Upload) error {
	key := destinationKey(u.Bucket, u.Key)
	var err error
	if u.Fed {
		err = releaseDestinationScript.Run(ctx, s.rdb, []string{key}, u.ID.String()).Err()
	} else {
		err = s.rdb.HDel(ctx, key, "lease:"+u.ID.String()).Err()
	}
	if err != nil {
		return fmt.Errorf("state: release destination %s/%s for %s: %w", u.Bucket, u.Key, u.ID, err)
	}
	return nil
}

// retentionDuration is the store's retention.
func (s *Store) retentionDuration() time.Duration {
	var secs int64
	_, _ = fmt.Sscan(s.retention, &secs)
	return time.Duration(secs) * time.Second
}
