package tasks

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBudgetReusesBuffersWithinItsSize: a part's buffer is handed to the next part of a size
// that fits it, and the buffers the budget keeps (free or in use) stay within its size.
func TestBudgetReusesBuffersWithinItsSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := NewMemoryBudget(4 * poolMin)
	first, release, err := b.buffer(ctx, 2*poolMin)
	require.NoError(t, err)
	release()
	again, release, err := b.buffer(ctx, 2*poolMin)
	require.NoError(t, err)
	require.Same(t, &first[0], &again[0], "the freed buffer is reused")
	other, release2, err := b.buffer(ctx, poolMin) // does not fit the 2 MiB one well: a new one
	require.NoError(t, err)
	require.NotSame(t, &first[0], &other[0])
	release()
	release2()
	require.LessOrEqual(t, b.held, b.size)
	// A size that needs the whole budget drops the free buffers first.
	big, release, err := b.buffer(ctx, 4*poolMin)
	require.NoError(t, err)
	require.Len(t, big, 4*poolMin)
	require.LessOrEqual(t, b.held, b.size, "free buffers were dropped to make room")
	release()
	small, release, err := b.buffer(ctx, 1000)
	require.NoError(t, err)
	require.Len(t, small, 1000, "small buffers are plain allocations")
	release()
}
