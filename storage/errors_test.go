package storage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"
)

func TestTranslate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code      string
		status    int
		want      error
		permanent bool
	}{
		{"NoSuchUpload", 404, ErrNoSuchUpload, false},
		{"NoSuchBucket", 404, ErrNoSuchBucket, true},
		{"NoSuchKey", 404, ErrNoSuchKey, false},
		{"", 404, ErrNoSuchKey, false}, // HEAD: no body, no code
		{"BadDigest", 400, ErrBadDigest, false},
		{"InvalidDigest", 400, ErrBadDigest, false},
		{"XAmzContentSHA256Mismatch", 400, ErrBadDigest, false},
		{"InvalidPart", 400, ErrInvalidPart, true},
		{"InvalidPartOrder", 400, ErrInvalidPart, true},
		{"EntityTooSmall", 400, ErrInvalidPart, true},
		{"AccessDenied", 403, ErrAccessDenied, true},
		{"InvalidAccessKeyId", 403, ErrAccessDenied, true},
		{"SignatureDoesNotMatch", 403, ErrAccessDenied, true},
		{"XAdminUserNotFound", 403, ErrAccessDenied, true},
		{"InvalidBucketName", 400, ErrInvalidBucketName, true},
		{"SlowDown", 503, ErrSlowDown, false},
		{"ServiceUnavailable", 503, ErrSlowDown, false},
		{"503 Service Unavailable", 503, ErrSlowDown, false},
		{"InternalError", 500, nil, false},
		{"MalformedXML", 400, nil, false},
	} {
		t.Run(fmt.Sprintf("%s_%d", tc.code, tc.status), func(t *testing.T) {
			t.Parallel()
			resp := minio.ErrorResponse{Code: tc.code, Message: "server says " + tc.code, StatusCode: tc.status, Key: "k"}
			// Wrapped once, as a caller or minio-go might: errors.As must
			// still find it where minio.ToErrorResponse would not.
			err := translate(fmt.Errorf("wrapped: %w", resp))
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
			for _, s := range []error{ErrNoSuchUpload, ErrNoSuchBucket, ErrNoSuchKey, ErrBadDigest, ErrInvalidPart,
				ErrAccessDenied, ErrInvalidBucketName, ErrSlowDown} {
				if s != tc.want {
					require.NotErrorIs(t, err, s)
				}
			}
			var got minio.ErrorResponse
			require.ErrorAs(t, err, &got, "the SDK error stays reachable")
			require.Equal(t, tc.code, got.Code)
			require.Contains(t, err.Error(), "server says "+tc.code)
			require.Equal(t, tc.permanent, Permanent(err))
		})
	}
}

func TestTranslateMessage(t *testing.T) {
	t.Parallel()
	resp := minio.ErrorResponse{Code: "BadDigest", Message: "The Content-MD5 you specified did not match what we received.", StatusCode: 400}
	err := fmt.Errorf("storage: upload part 3 of %s: %w", Object{"bucket", "key"}, translate(resp))
	require.EqualError(t, err, "storage: upload part 3 of bucket/key: bad digest: "+
		"The Content-MD5 you specified did not match what we received. (BadDigest, HTTP 400)")
}

func TestTranslatePassesOtherErrors(t *testing.T) {
	t.Parallel()
	require.NoError(t, translate(nil))
	err := translate(fmt.Errorf("dial: %w", context.DeadlineExceeded))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, Permanent(err))
	require.False(t, Permanent(nil))
	require.False(t, Permanent(errors.New("boom")))
}

func TestSentinelForStatusOnly(t *testing.T) {
	t.Parallel()
	require.Equal(t, ErrSlowDown, sentinelFor(minio.ErrorResponse{StatusCode: http.StatusServiceUnavailable}))
	require.Nil(t, sentinelFor(minio.ErrorResponse{StatusCode: http.StatusNotFound, Code: "NoSuchLifecycleConfiguration"}))
}
