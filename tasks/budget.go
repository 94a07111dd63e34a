package tasks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/dustin/go-humanize"
	"golang.org/x/sync/semaphore"
)

// ErrPartTooLarge is wrapped by the failure of an upload whose parts cannot fit the memory
// budget.
var ErrPartTooLarge = errors.New("part larger than the memory budget")

// MemoryBudget bounds the bytes of part and PutObject buffers one worker holds at once: a
// handler acquires a buffer's size before allocating it and releases it when the buffer is no
// longer used, waiting (as long as its task's context allows) while the budget is spent.
//
// The budget is also the largest part the fleet can upload: an upload whose part (or single
// PUT) is larger fails when it is planned, with the reason. Every worker must run with the
// same budget, since any worker may plan an upload and any worker may run its parts.
//
// Buffers of at least poolMin bytes are reused from part to part (see buffer): without that a
// worker's heap grows to about twice the bytes in flight between collections.
type MemoryBudget struct {
	size  int64
	sem   *semaphore.Weighted
	inUse atomic.Int64
	peak  atomic.Int64

	mu   sync.Mutex
	free [][]byte // buffers given back, for the next part that fits one
	held int64    // capacity of the buffers the pool made that are free or in use
}

// poolMin is the smallest buffer the budget reuses; smaller ones are left to the collector.
const poolMin = 1 << 20

// NewMemoryBudget returns a budget of size bytes (at least one byte).
func NewMemoryBudget(size int64) *MemoryBudget {
	size = max(size, 1)
	return &MemoryBudget{size: size, sem: semaphore.NewWeighted(size)}
}

// Size is the budget in bytes, which is also the largest part it admits.
func (b *MemoryBudget) Size() int64 { return b.size }

// InUse is how many bytes of buffers are held now.
func (b *MemoryBudget) InUse() int64 { return b.inUse.Load() }

// Peak is the most bytes of buffers held at once since the budget was made.
func (b *MemoryBudget) Peak() int64 { return b.peak.Load() }

// acquire waits until n bytes fit in the budget (or ctx ends) and returns the function that
// gives them back. A nil budget admits everything.
func (b *MemoryBudget) acquire(ctx context.Context, n int64) (release func(), err error) {
	if b == nil || n <= 0 {
		return func() {}, nil
	}
	if n > b.size {
		// semaphore.Weighted would wait for ever; the plan-time check keeps this from
		// happening unless workers run with different budgets.
		return nil, b.tooLarge(n)
	}
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, fmt.Errorf("tasks: wait for %s of the memory budget: %w", humanize.IBytes(uint64(n)), err)
	}
	now := b.inUse.Add(n)
	for p := b.peak.Load(); now > p && !b.peak.CompareAndSwap(p, now); p = b.peak.Load() {
	}
	return func() {
		b.inUse.Add(-n)
		b.sem.Release(n)
	}, nil
}

// buffer waits for n bytes of the budget, as acquire does, and returns a buffer of n bytes with
// the function that gives both back. The buffer is one an earlier part gave back when one fits
// (its contents are overwritten by the caller), so it must not be touched after release: the
// storage calls never read a body after they returned. The buffers the budget keeps, free or
// in use, never hold more than its size (beyond what is acquired).
func (b *MemoryBudget) buffer(ctx context.Context, n int64) ([]byte, func(), error) {
	release, err := b.acquire(ctx, n)
	if err != nil {
		return nil, nil, err
	}
	if b == nil || n < poolMin {
		return make([]byte, n), release, nil
	}
	buf := b.get(n)
	return buf, func() {
		b.put(buf)
		release()
	}, nil
}

// get returns a free buffer of capacity n to n+n/4 (the smallest), else a new one, dropping
// free buffers first while the pool's buffers would exceed the budget.
func (b *MemoryBudget) get(n int64) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	best := -1
	for i, f := range b.free {
		if c := int64(cap(f)); c >= n && c <= n+n/4 && (best < 0 || c < int64(cap(b.free[best]))) {
			best = i
		}
	}
	if best >= 0 {
		buf := b.free[best][:n]
		b.free = slices.Delete(b.free, best, best+1)
		return buf
	}
	for b.held+n > b.size && len(b.free) > 0 {
		last := len(b.free) - 1
		b.held -= int64(cap(b.free[last]))
		b.free[last] = nil
		b.free = b.free[:last]
	}
	b.held += n
	return make([]byte, n)
}

// put gives a buffer from get back.
func (b *MemoryBudget) put(buf []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held > b.size {
		b.held -= int64(cap(buf)) // over the budget (many sizes at once): let it go
		return
	}
	b.free = append(b.free, buf)
}

// check returns the plan-time error for a part (or single PUT) of n bytes that cannot fit.
func (b *MemoryBudget) check(n int64) error {
	if b == nil || n <= b.size {
		return nil
	}
	return b.tooLarge(n)
}

func (b *MemoryBudget) tooLarge(n int64) error {
	return fmt.Errorf("tasks: a part of %s is larger than the worker's memory budget of %s (--memory-budget), "+
		"so no worker could hold it: use a smaller part size, or raise --memory-budget on every worker: %w",
		humanize.IBytes(uint64(n)), humanize.IBytes(uint64(b.size)), ErrPartTooLarge)
}
