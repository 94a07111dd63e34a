package storage

import (
	"encoding/base64"
	"errors"
	"maps"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7"
)

// Additional-checksum headers (S3's x-amz-checksum-*).
const (
	amzChecksumAlgorithm = "X-Amz-Checksum-Algorithm"
	amzChecksumType      = "X-Amz-Checksum-Type"
	amzChecksumCRC64NVME = "X-Amz-Checksum-Crc64nvme"
)

// CRC64NVME returns body's CRC-64/NVME as S3 writes it (base64 of the
// big-endian sum), the value of x-amz-checksum-crc64nvme.
func CRC64NVME(body []byte) string {
	h := minio.ChecksumCRC64NVME.Hasher()
	h.Write(body)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// FullObjectCRC64NVME combines the CRC64NVME checksums of parts (sorted by
// number, each with its Size) into the checksum of the whole object, which
// is what S3 reports for a full-object checksum. It reports false when a part
// has no checksum.
func FullObjectCRC64NVME(parts []Part) (string, bool) {
	if len(parts) == 0 {
		return "", false
	}
	op := make([]minio.ObjectPart, len(parts))
	for i, p := range parts {
		if p.CRC64NVME == "" {
			return "", false
		}
		op[i] = minio.ObjectPart{PartNumber: p.Number, Size: p.Size, ChecksumCRC64NVME: p.CRC64NVME}
	}
	sum, err := minio.ChecksumCRC64NVME.FullObjectChecksum(op)
	if err != nil || sum == nil {
		return "", false
	}
	return sum.Encoded(), true
}

// ChecksumsOff reports whether this client sends no additional checksums,
// because Config.DisableChecksums says so or the server refused one.
func (m *Minio) ChecksumsOff() bool { return m.noChecksums.Load() }

// withChecksumFallback runs call with checksums unless they are off. If the
// server refuses the checksum headers (and answers the same request without
// them), checksums go off for this client, once, and the answer without them
// is returned.
func withChecksumFallback[T any](m *Minio, call func(checksum bool) (T, error)) (T, error) {
	if m.noChecksums.Load() {
		return call(false)
	}
	v, err := call(true)
	if err == nil || !refusesChecksum(err) {
		return v, err
	}
	v2, err2 := call(false)
	if err2 != nil {
		return v2, err2
	}
	m.noChecksums.Store(true)
	return v2, nil
}

// refusesChecksum reports whether err is a server saying it does not
// support a request's additional checksum headers (as opposed to a checksum
// that does not match the body, which is ErrBadDigest).
func refusesChecksum(err error) bool {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return false
	}
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotImplemented {
		return false
	}
	switch resp.Code {
	case "BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch":
		return false
	case "NotImplemented", "InvalidArgument", "InvalidRequest", "UnsupportedChecksum", "InvalidChecksum":
		return true
	}
	return strings.Contains(strings.ToLower(resp.Message), "checksum")
}

// withChecksumHeaders returns meta plus the checksum headers (minio-go sends
// x-amz-checksum-* keys of UserMetadata as headers, not as metadata).
func withChecksumHeaders(meta, headers map[string]string) map[string]string {
	out := make(map[string]string, len(meta)+len(headers))
	maps.Copy(out, meta)
	maps.Copy(out, headers)
	return out
}
