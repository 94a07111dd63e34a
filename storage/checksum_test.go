package storage

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFullObjectCRC64NVME(t *testing.T) {
	t.Parallel()
	a, b, c := payload(5<<20, 1), payload(5<<20, 2), payload(17, 3)
	parts := []Part{{Number: 1, Size: int64(len(a)), CRC64NVME: CRC64NVME(a)},
		{Number: 2, Size: int64(len(b)), CRC64NVME: CRC64NVME(b)}, {Number: 3, Size: int64(len(c)), CRC64NVME: CRC64NVME(c)}}
	full, ok := FullObjectCRC64NVME(parts)
	require.True(t, ok)
	require.Equal(t, CRC64NVME(append(append(append([]byte{}, a...), b...), c...)), full)
	parts[1].CRC64NVME = ""
	_, ok = FullObjectCRC64NVME(parts)
	require.False(t, ok, "a part without a checksum: no full-object checksum")
}

// BenchmarkPartSums measures what a worker computes per 16 MiB part: the MD5 for Content-MD5
// and the CRC-64/NVME additional checksum.
func BenchmarkPartSums(b *testing.B) {
	body := payload(16<<20, 9)
	b.Run("md5", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			contentMD5(body)
		}
	})
	b.Run("crc64nvme", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			CRC64NVME(body)
		}
	})
}
