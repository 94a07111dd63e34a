package client

import (
	"crypto/sha256"
	"errors"
	"fmt"
)

// Dedupe says what a migration does with a destination (bucket and key) that its items name
// more than once.
type Dedupe string

const (
	// DedupeRefuse (the default) refuses the migration: Plan reports every repeated key as
	// an invalid item and counts it in MigrationPlan.Duplicates, and Migrate enqueues
	// nothing. Two items of one key would otherwise race, and the one written last, not
	// the one listed last, would stay.
	DedupeRefuse Dedupe = ""
	// DedupeLast uploads the last item of each key and leaves out the earlier ones.
	DedupeLast Dedupe = "last"
)

func (d Dedupe) validate() error {
	switch d {
	case DedupeRefuse, DedupeLast:
		return nil
	}
	return fmt.Errorf("%w: dedupe %q: want \"\" (refuse) or %q", ErrInvalid, d, DedupeLast)
}

// ErrDuplicateKey is wrapped by the error of an item whose key an earlier item names.
var ErrDuplicateKey = errors.New("key listed more than once")

// destHash identifies a destination in a set of them; 128 bits of SHA-256 keep the memory per
// item small (the key itself is not kept) and collisions out of reach.
type destHash [16]byte

func hashDest(bucket, key string) destHash {
	sum := sha256.Sum256([]byte(bucket + "\x00" + key))
	return destHash(sum[:16])
}

// itemHash identifies what an item would upload (its source and the version of it).
func itemHash(it MigrationItem) destHash {
	sum := sha256.Sum256([]byte(it.Source + "\x00" + it.Fingerprint))
	return destHash(sum[:16])
}

// keyIndex finds the keys a migration's items name more than once. It holds about 40 bytes
// per distinct key (not the key itself).
type keyIndex struct {
	seen  map[destHash]struct{}
	last  map[destHash]destHash // repeated destination → its last item
	count int64                 // items that repeat an earlier key
}

func newKeyIndex() *keyIndex {
	return &keyIndex{seen: map[destHash]struct{}{}, last: map[destHash]destHash{}}
}

// add records a resolved item; for a repeated key it returns the error that names it.
func (x *keyIndex) add(it MigrationItem) error {
	d := hashDest(it.Bucket, it.Key)
	if _, dup := x.seen[d]; !dup {
		x.seen[d] = struct{}{}
		return nil
	}
	x.count++
	x.last[d] = itemHash(it)
	return &ItemError{Where: it.Where, Err: fmt.Errorf("%w: %s/%s is named by an earlier item too", ErrDuplicateKey, it.Bucket, it.Key)}
}

// keep reports whether Migrate with DedupeLast enqueues it: a key named once, or the last
// item of a repeated key (an identical earlier item makes the same upload, so it may go too).
func (x *keyIndex) keep(it MigrationItem) bool {
	last, dup := x.last[hashDest(it.Bucket, it.Key)]
	return !dup || last == itemHash(it)
}
