package storage

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPlanParts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		size, partSize int64
		want           PartPlan
		single         bool
	}{
		{"empty", 0, 0, PartPlan{Size: 0, PartSize: DefaultPartSize, Parts: 1}, true},
		{"one byte", 1, 0, PartPlan{Size: 1, PartSize: DefaultPartSize, Parts: 1}, true},
		{"exactly one part", DefaultPartSize, 0, PartPlan{DefaultPartSize, DefaultPartSize, 1}, true},
		{"one byte over", DefaultPartSize + 1, 0, PartPlan{DefaultPartSize + 1, DefaultPartSize, 2}, false},
		{"min part size", 11 << 20, MinPartSize, PartPlan{11 << 20, MinPartSize, 3}, false},
		{"max parts exactly", MaxParts * DefaultPartSize, 0, PartPlan{MaxParts * DefaultPartSize, DefaultPartSize, MaxParts}, false},
		{"grows to whole MiB", MaxParts*DefaultPartSize + 1, 0, PartPlan{MaxParts*DefaultPartSize + 1, 17 << 20, 9412}, false},
		{"max object", MaxObjectSize, 0, PartPlan{MaxObjectSize, 525 << 20, 9987}, false},
		{"max part size", MaxObjectSize, MaxPartSize, PartPlan{MaxObjectSize, MaxPartSize, 1024}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := PlanParts(tc.size, tc.partSize)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.single, got.SinglePut())
			checkPlan(t, got)
		})
	}
}

func TestPlanPartsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		size, partSize int64
		want           string
	}{
		{"negative size", -1, 0, "size -1 is negative"},
		{"too large", MaxObjectSize + 1, 0, "maximum object size"},
		{"part too small", 1, MinPartSize - 1, "minimum part size"},
		{"negative part", 1, -1, "minimum part size"},
		{"part too large", 1, MaxPartSize + 1, "maximum part size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := PlanParts(tc.size, tc.partSize)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestPlanPartLast(t *testing.T) {
	t.Parallel()
	p, err := PlanParts(10<<20+1024, MinPartSize)
	require.NoError(t, err)
	require.Equal(t, 3, p.Parts)
	off, n := p.Part(3)
	require.Equal(t, int64(10<<20), off)
	require.Equal(t, int64(1024), n)
	require.Panics(t, func() { p.Part(0) })
	require.Panics(t, func() { p.Part(4) })
}

// TestPlanPartsProperties checks checkPlan's properties on random sizes,
// biased towards the interesting edges.
func TestPlanPartsProperties(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	partSizes := []int64{0, MinPartSize, MinPartSize + 1, DefaultPartSize, 100<<20 + 7, MaxPartSize}
	for range 20000 {
		var size int64
		switch r.IntN(4) {
		case 0:
			size = r.Int64N(1 << 30)
		case 1:
			size = r.Int64N(MaxObjectSize + 1)
		case 2:
			size = MaxObjectSize - r.Int64N(1<<30)
		default:
			size = int64(r.IntN(MaxParts+2)) * partSizes[r.IntN(len(partSizes))] // around part boundaries
			size += r.Int64N(3) - 1
			size = max(0, min(size, MaxObjectSize))
		}
		ps := partSizes[r.IntN(len(partSizes))]
		p, err := PlanParts(size, ps)
		require.NoError(t, err, "size %d part size %d", size, ps)
		checkPlan(t, p)
		if ps != 0 && int64(MaxParts)*ps >= size {
			require.Equal(t, ps, p.PartSize, "part size changed although it fits")
		}
	}
}

func FuzzPlanParts(f *testing.F) {
	for _, seed := range [][2]int64{
		{0, 0}, {1, 0}, {DefaultPartSize, 0}, {DefaultPartSize + 1, MinPartSize},
		{MaxObjectSize, 0}, {MaxObjectSize, MaxPartSize}, {MaxParts*DefaultPartSize + 1, 0},
		{-1, 0}, {1, MinPartSize - 1}, {MaxObjectSize + 1, 0},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, size, partSize int64) {
		p, err := PlanParts(size, partSize)
		valid := size >= 0 && size <= MaxObjectSize &&
			(partSize == 0 || (partSize >= MinPartSize && partSize <= MaxPartSize))
		if !valid {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		checkPlan(t, p)
	})
}

// checkPlan asserts the invariants of a plan: its parts cover [0, Size)
// exactly and contiguously, every part but the last is PartSize long,
// PartSize is within the S3 limits and there are at most MaxParts parts.
func checkPlan(t *testing.T, p PartPlan) {
	t.Helper()
	require.GreaterOrEqual(t, p.PartSize, MinPartSize, "%+v", p)
	require.LessOrEqual(t, p.PartSize, MaxPartSize, "%+v", p)
	require.GreaterOrEqual(t, p.Parts, 1, "%+v", p)
	require.LessOrEqual(t, p.Parts, MaxParts, "%+v", p)
	require.Equal(t, p.Size <= p.PartSize, p.SinglePut(), "%+v", p)
	// Part is arithmetic, so checking the first two and last two parts and
	// the total is as good as walking all of them.
	var next int64
	for _, n := range slices.Compact(slices.Sorted(slices.Values([]int{1, min(2, p.Parts), max(1, p.Parts-1), p.Parts}))) {
		off, length := p.Part(n)
		if n <= 2 {
			require.Equal(t, next, off, "part %d of %+v", n, p)
		}
		require.Equal(t, int64(n-1)*p.PartSize, off, "part %d of %+v", n, p)
		if n < p.Parts {
			require.Equal(t, p.PartSize, length, "part %d of %+v", n, p)
		} else {
			require.Equal(t, p.Size, off+length, "last part %d of %+v ends short of the size", n, p)
			if p.Size > 0 {
				require.Positive(t, length, "last part %d of %+v is empty", n, p)
			}
		}
		next = off + length
	}
}
