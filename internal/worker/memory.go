package worker

import (
	"errors"
	"log/slog"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// defaultBufferPerTask is the budget per concurrent task when the container has no memory
// limit: room for a default 16 MiB part twice over, and for one part up to Concurrency × 32 MiB.
const defaultBufferPerTask = 32 << 20

// DefaultMemoryBudget is the memory budget of a worker that sets none: half the container's
// memory limit (cgroup v2 memory.max or v1 memory.limit_in_bytes) when one is set, since
// Go's garbage collector lets the heap grow to about twice the live buffers before it frees
// them, else concurrency × 32 MiB. It says which it used.
func DefaultMemoryBudget(concurrency int) (bytes int64, from string) {
	limit, err := memlimit.FromCgroup()
	if err == nil && limit > 0 && limit < 1<<62 {
		return int64(limit / 2), "half the cgroup memory limit"
	}
	if err != nil && !errors.Is(err, memlimit.ErrNoLimit) && !errors.Is(err, memlimit.ErrNoCgroup) {
		from = "concurrency × 32 MiB (cgroup limit unreadable: " + err.Error() + ")"
	} else {
		from = "concurrency × 32 MiB (no cgroup memory limit)"
	}
	return int64(max(concurrency, 1)) * defaultBufferPerTask, from
}

// SetGoMemLimit sets the Go runtime's soft memory limit (GOMEMLIMIT) to 90% of the cgroup
// memory limit, unless GOMEMLIMIT is set already or there is no limit: freed part buffers are
// then collected before the heap nears the container's limit, rather than at twice the live
// heap. Call it once, from main.
func SetGoMemLimit(log *slog.Logger) {
	_, _ = memlimit.Set(memlimit.WithRatio(0.9), memlimit.WithProvider(memlimit.FromCgroup), memlimit.WithLogger(log))
}
