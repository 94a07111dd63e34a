package tasks_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/tasks"
)

type retryAfterErr time.Duration

func (e retryAfterErr) Error() string             { return "503 Service Unavailable" }
func (e retryAfterErr) RetryAfter() time.Duration { return time.Duration(e) }

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	plain := errors.New("connection reset")
	for n, base := range map[int]time.Duration{0: time.Second, 3: 8 * time.Second, 6: time.Minute, 20: time.Minute} {
		for range 50 {
			d := tasks.RetryDelay(n, plain, nil)
			require.GreaterOrEqual(t, d, base, "attempt %d", n)
			require.LessOrEqual(t, d, base+base/2, "attempt %d", n)
		}
	}

	// A server's Retry-After wins over the backoff, whatever the attempt, also when wrapped;
	// asynq may run a retry up to a second early (whole-second schedule), hence the second.
	for _, n := range []int{0, 10} {
		for range 50 {
			d := tasks.RetryDelay(n, fmt.Errorf("source: GET x: %w", retryAfterErr(7*time.Second)), nil)
			require.GreaterOrEqual(t, d, 8*time.Second)
			require.LessOrEqual(t, d, 8*time.Second+700*time.Millisecond)
		}
	}
	d := tasks.RetryDelay(0, retryAfterErr(3*time.Hour), nil)
	require.GreaterOrEqual(t, d, tasks.MaxRetryAfter, "a huge Retry-After is capped")
	require.LessOrEqual(t, d, tasks.MaxRetryAfter+time.Second+tasks.MaxRetryAfter/10)
	d = tasks.RetryDelay(0, retryAfterErr(0), nil)
	require.LessOrEqual(t, d, 1500*time.Millisecond, "no Retry-After: the backoff")
}

func TestRetryDelayWaitsOutAClaim(t *testing.T) {
	t.Parallel()
	// A finalizer that found another's claim waits until the claim lapses, even when that is
	// far beyond MaxRetryAfter (a huge object's Complete), so it spends one retry, not all.
	until := time.Now().Add(3 * time.Hour)
	d := tasks.RetryDelay(0, tasks.NewClaimedError(until), nil)
	require.Greater(t, d, 3*time.Hour)
	require.Less(t, d, 3*time.Hour+2*time.Second)
}
