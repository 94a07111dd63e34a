package storage

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// NormalizeETag trims the surrounding quotes (and a weak "W/" prefix) from
// an ETag and lowercases it, so ETags from different servers and headers
// compare equal.
func NormalizeETag(etag string) string {
	etag = strings.TrimSpace(etag)
	etag = strings.TrimPrefix(etag, "W/")
	etag = strings.Trim(etag, `"`)
	return strings.ToLower(etag)
}

// MultipartETag returns the ETag S3 gives an object assembled from parts with
// the given ETags (each the hex MD5 of one part, in part order):
// hex(md5(concatenation of the decoded part MD5s)) + "-" + number of parts.
func MultipartETag(partETags []string) (string, error) {
	if len(partETags) == 0 {
		return "", errors.New("storage: multipart etag: no parts")
	}
	if len(partETags) > MaxParts {
		return "", fmt.Errorf("storage: multipart etag: %d parts, more than %d", len(partETags), MaxParts)
	}
	h := md5.New()
	for i, e := range partETags {
		sum, err := hex.DecodeString(NormalizeETag(e))
		if err != nil || len(sum) != md5.Size {
			return "", fmt.Errorf("storage: multipart etag: part %d: %q is not a hex MD5", i+1, e)
		}
		h.Write(sum)
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(partETags)), nil
}

// contentMD5 returns body's MD5 as lowercase hex (its expected ETag) and as
// base64 (the Content-MD5 header).
func contentMD5(body []byte) (hexSum, base64Sum string) {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(sum[:])
}
