package tasks

import (
	"strings"

	"github.com/partflow/partflow/storage"
)

// A part is recorded in the upload's parts hash (internal/state) as one string:
//
//	<etag>[ md5=<hex>][ crc64nvme=<base64>]
//
// <etag> is the ETag the server returned (Complete needs it), md5= the MD5 of the bytes sent
// (checked by the server through Content-MD5) and crc64nvme= the additional checksum sent with
// them. The same bytes uploaded twice on an encrypted bucket get two different ETags, so
// record_part.lua compares two values of a part by their md5= field when both have one. A
// value with no md5= (a part adopted from ListParts, or recorded by an older partflow) tells
// nothing about the bytes but its ETag, so the finished object is then checked by size (and
// checksum, if any) only.

const (
	recordMD5       = "md5="
	recordCRC64NVME = "crc64nvme="
)

// partRecord encodes p for RecordPart.
func partRecord(p storage.Part) string {
	var b strings.Builder
	b.WriteString(p.ETag)
	if p.MD5 != "" {
		b.WriteString(" " + recordMD5 + p.MD5)
	}
	if p.CRC64NVME != "" {
		b.WriteString(" " + recordCRC64NVME + p.CRC64NVME)
	}
	return b.String()
}

// parsePartRecord decodes a recorded part n of size bytes.
func parsePartRecord(n int, size int64, v string) storage.Part {
	fields := strings.Fields(v)
	p := storage.Part{Number: n, Size: size}
	if len(fields) == 0 {
		return p
	}
	p.ETag = fields[0]
	for _, f := range fields[1:] {
		switch {
		case strings.HasPrefix(f, recordMD5):
			p.MD5 = strings.TrimPrefix(f, recordMD5)
		case strings.HasPrefix(f, recordCRC64NVME):
			p.CRC64NVME = strings.TrimPrefix(f, recordCRC64NVME)
		}
	}
	return p
}
