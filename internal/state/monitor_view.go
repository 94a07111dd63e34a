package state

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Read-only views for the monitor: pages of bounded size, so a view of an upload with
// 10,000 parts never reads them all at once.

// PartSlot is one part of an upload as the monitor shows it: its number and, once the part
// is recorded, its ETag (empty while it is not).
type PartSlot struct {
	Number int
	ETag   string
}

// Recorded reports whether the part's ETag is recorded.
func (p PartSlot) Recorded() bool { return p.ETag != "" }

// PartSlots returns parts first … first+n-1 of an upload (part numbers start at 1), recorded or
// not, in one round trip. The caller bounds n by the upload's part count.
func (s *Store) PartSlots(ctx context.Context, id UploadID, first, n int) ([]PartSlot, error) {
	if first < 1 || n <= 0 {
		return nil, nil
	}
	fields := make([]string, n)
	for i := range fields {
		fields[i] = strconv.Itoa(first + i)
	}
	vals, err := s.rdb.HMGet(ctx, uploadKeys(id)[1], fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("state: parts %d-%d of %s: %w", first, first+n-1, id, err)
	}
	out := make([]PartSlot, n)
	for i, v := range vals {
		out[i] = PartSlot{Number: first + i}
		if rec, ok := v.(string); ok {
			// A record is "<etag>[ md5=…][ crc64nvme=…]" (see record_part.lua): show the ETag.
			out[i].ETag, _, _ = strings.Cut(rec, " ")
		}
	}
	return out, nil
}
