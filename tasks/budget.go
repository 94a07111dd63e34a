package tasks

import (
	"context"
	"errors"
	"fmt"
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
type MemoryBudget struct {
	size  int64
	sem   *semaphore.Weighted
	inUse atomic.Int64
	peak  atomic.Int64
}

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
