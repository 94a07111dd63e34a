package storage

import (
	"fmt"
)

// S3 multipart limits and partflow's default part size.
const (
	DefaultPartSize int64 = 16 << 20 // 16 MiB
	MinPartSize     int64 = 5 << 20  // 5 MiB; the last part may be smaller
	MaxPartSize     int64 = 5 << 30  // 5 GiB
	MaxParts              = 10000
	MaxObjectSize   int64 = 5 << 40 // 5 TiB
)

const mib = 1 << 20

// PartPlan splits an object of Size bytes into Parts parts of PartSize bytes;
// the last part holds the remainder.
type PartPlan struct {
	Size, PartSize int64
	Parts          int
}

// PlanParts plans the parts of an object of size bytes. partSize 0 means
// DefaultPartSize; a part size outside [MinPartSize, MaxPartSize] or a size
// outside [0, MaxObjectSize] is an error. When size would need more than
// MaxParts parts, the part size grows to the smallest whole number of MiB
// that fits. An empty object has one empty part.
func PlanParts(size, partSize int64) (PartPlan, error) {
	switch {
	case size < 0:
		return PartPlan{}, fmt.Errorf("storage: plan parts: size %d is negative", size)
	case size > MaxObjectSize:
		return PartPlan{}, fmt.Errorf("storage: plan parts: size %d exceeds the maximum object size %d (5 TiB)", size, MaxObjectSize)
	case partSize == 0:
		partSize = DefaultPartSize
	case partSize < MinPartSize:
		return PartPlan{}, fmt.Errorf("storage: plan parts: part size %d is below the minimum part size %d (5 MiB)", partSize, MinPartSize)
	case partSize > MaxPartSize:
		return PartPlan{}, fmt.Errorf("storage: plan parts: part size %d exceeds the maximum part size %d (5 GiB)", partSize, MaxPartSize)
	}
	if ceilDiv(size, partSize) > MaxParts {
		partSize = ceilDiv(ceilDiv(size, MaxParts), mib) * mib
	}
	parts := max(ceilDiv(size, partSize), 1)
	return PartPlan{Size: size, PartSize: partSize, Parts: int(parts)}, nil
}

// Part returns the byte range [offset, offset+length) of part n, counted
// from 1. Only the last part may be shorter than PartSize. It panics when n
// is not in [1, Parts].
func (p PartPlan) Part(n int) (offset, length int64) {
	if n < 1 || n > p.Parts {
		panic(fmt.Sprintf("storage: part %d of a plan with %d parts", n, p.Parts))
	}
	offset = int64(n-1) * p.PartSize
	return offset, min(p.PartSize, p.Size-offset)
}

// SinglePut reports whether the object fits in one part and so goes as one
// PutObject instead of a multipart upload.
func (p PartPlan) SinglePut() bool { return p.Size <= p.PartSize }

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
