package state

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Bandwidth is a cap on bytes per second shared by every worker through a token bucket in
// Redis (scripts/take_bandwidth.lua). A worker reserves bytes a chunk at a time (about an
// eighth of a second's worth, 16 KiB to 4 MiB) and spends them locally, so the cap costs one
// Redis call per chunk, not per read. It satisfies storage.Limiter.
type Bandwidth struct {
	store *Store
	key   string
	rate  int64
	chunk int64

	mu      sync.Mutex
	balance int64 // bytes reserved and not yet sent
}

// FleetBandwidth returns the fleet-wide cap of rate bytes per second (every worker that uses
// it shares it).
func (s *Store) FleetBandwidth(rate int64) *Bandwidth { return s.bandwidth(fleetBandwidthKey, rate) }

// MigrationBandwidth returns the cap of rate bytes per second on one migration's bodies,
// shared by the fleet.
func (s *Store) MigrationBandwidth(migrationID string, rate int64) *Bandwidth {
	return s.bandwidth(migrationBandwidthKey(migrationID), rate)
}

func (s *Store) bandwidth(key string, rate int64) *Bandwidth {
	return &Bandwidth{store: s, key: key, rate: rate, chunk: min(max(rate/8, 16<<10), 4<<20)}
}

// Rate is the cap in bytes per second.
func (b *Bandwidth) Rate() int64 { return b.rate }

// WaitN blocks until n more bytes may be sent under the cap, or ctx ends.
func (b *Bandwidth) WaitN(ctx context.Context, n int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.balance < int64(n) {
		take := max(b.chunk, int64(n)-b.balance)
		ms, err := takeBandwidthScript.Run(ctx, b.store.rdb, []string{b.key},
			strconv.FormatInt(b.rate, 10), strconv.FormatInt(b.chunk, 10), strconv.FormatInt(take, 10)).Int64()
		if err != nil {
			return fmt.Errorf("state: bandwidth: %w", err)
		}
		if ms > 0 {
			t := time.NewTimer(time.Duration(ms) * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err() // the reservation is spent: the cap errs on the slow side
			case <-t.C:
			}
		}
		b.balance += take
	}
	b.balance -= int64(n)
	return nil
}
