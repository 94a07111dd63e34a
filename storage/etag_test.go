package storage

import (
	"crypto/md5"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormalizeETag(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`"D41D8CD98F00B204E9800998ECF8427E"`:    "d41d8cd98f00b204e9800998ecf8427e",
		`d41d8cd98f00b204e9800998ecf8427e`:      "d41d8cd98f00b204e9800998ecf8427e",
		`W/"abc-3"`:                             "abc-3",
		` "9B2CF535F27731C974343645A3985328-2"`: "9b2cf535f27731c974343645a3985328-2",
		``:                                      "",
	} {
		require.Equal(t, want, NormalizeETag(in), "%q", in)
	}
}

func TestMultipartETag(t *testing.T) {
	t.Parallel()
	a, b := md5.Sum([]byte("a")), md5.Sum([]byte("b"))
	both := md5.Sum(append(a[:], b[:]...))
	want := hex.EncodeToString(both[:]) + "-2"

	got, err := MultipartETag([]string{hex.EncodeToString(a[:]), `"` + hex.EncodeToString(b[:]) + `"`})
	require.NoError(t, err)
	require.Equal(t, want, got)

	// Of one empty part, as S3 computes it for a 0-byte multipart object.
	got, err = MultipartETag([]string{"d41d8cd98f00b204e9800998ecf8427e"})
	require.NoError(t, err)
	require.Equal(t, "59adb24ef3cdbe0297f05b395827453f-1", got)

	for _, bad := range [][]string{nil, {"xyz"}, {"abcd"}, {want}} {
		_, err := MultipartETag(bad)
		require.Error(t, err, "%q", bad)
	}
}

func TestContentMD5(t *testing.T) {
	t.Parallel()
	h, b := contentMD5(nil)
	require.Equal(t, "d41d8cd98f00b204e9800998ecf8427e", h)
	require.Equal(t, "1B2M2Y8AsgTpgAmY7PhCfg==", b)
}
