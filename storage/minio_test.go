package storage

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testSecret = "s3cr3t-never-printed"

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := Config{Endpoint: "http://127.0.0.1:9000", AccessKey: "ak", SecretKey: testSecret}
	c := good
	require.NoError(t, c.validate())
	require.Equal(t, "us-east-1", c.Region)
	require.Equal(t, 16, c.MaxIdleConns)
	require.Equal(t, DefaultResponseHeaderTimeout, c.ResponseHeaderTimeout)

	for _, tc := range []struct {
		mutate func(*Config)
		field  string
	}{
		{func(c *Config) { c.Endpoint = "" }, "Endpoint"},
		{func(c *Config) { c.Endpoint = "127.0.0.1:9000" }, "Endpoint"},
		{func(c *Config) { c.Endpoint = "ftp://host" }, "Endpoint"},
		{func(c *Config) { c.Endpoint = "http://" }, "Endpoint"},
		{func(c *Config) { c.Endpoint = "http://host/bucket" }, "Endpoint"},
		{func(c *Config) { c.Endpoint = "http://ak:" + testSecret + "@host" }, "Endpoint"},
		{func(c *Config) { c.AccessKey = "" }, "AccessKey"},
		{func(c *Config) { c.SecretKey = "" }, "SecretKey"},
		{func(c *Config) { c.SessionToken = "t"; c.AccessKey, c.SecretKey = "", "" }, "SessionToken"},
		{func(c *Config) { c.BucketLookup = "virtual" }, "BucketLookup"},
		{func(c *Config) { c.MaxIdleConns = -1 }, "MaxIdleConns"},
		{func(c *Config) { c.MaxRetries = -1 }, "MaxRetries"},
		{func(c *Config) { c.ResponseHeaderTimeout = -time.Second }, "ResponseHeaderTimeout"},
	} {
		c := good
		tc.mutate(&c)
		_, err := NewMinio(c)
		require.ErrorContains(t, err, tc.field)
		require.NotContains(t, err.Error(), testSecret)
	}
}

func TestConfigStringHidesSecret(t *testing.T) {
	t.Parallel()
	c := Config{Endpoint: "http://127.0.0.1:9000", AccessKey: "ak", SecretKey: testSecret, SessionToken: testSecret + "-token"}
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, &c)} {
		require.NotContains(t, s, testSecret)
		require.Contains(t, s, "127.0.0.1:9000")
	}
	m, err := NewMinio(c)
	require.NoError(t, err)
	require.NotContains(t, fmt.Sprint(m), testSecret)
}

func TestNewTransport(t *testing.T) {
	t.Parallel()
	tr := NewTransport(64, time.Minute)
	require.Equal(t, 64, tr.MaxIdleConnsPerHost)
	require.GreaterOrEqual(t, tr.MaxIdleConns, 64)
	require.Equal(t, time.Minute, tr.ResponseHeaderTimeout)
	require.False(t, tr.ForceAttemptHTTP2)
	require.NotSame(t, http.DefaultTransport, tr)
}

// fakeS3 answers every request with handler and records the requests.
func fakeS3(t *testing.T, handler http.HandlerFunc) (*Minio, *[]*http.Request) {
	t.Helper()
	var reqs []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs = append(reqs, r)
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	m, err := NewMinio(Config{Endpoint: srv.URL, AccessKey: "ak", SecretKey: testSecret, MaxRetries: 1})
	require.NoError(t, err)
	return m, &reqs
}

func TestUploadPartTakesServerETag(t *testing.T) {
	t.Parallel()
	m, reqs := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`) // an encrypted bucket's ETag
	})
	obj := Object{"bucket", "key"}
	part, err := m.UploadPart(t.Context(), obj, "up1", 3, []byte("hello"), ObjectOptions{})
	require.NoError(t, err, "a non-MD5 ETag is not an error")
	require.Equal(t, Part{Number: 3, ETag: "0123456789abcdef0123456789abcdef", Size: 5,
		MD5: "5d41402abc4b2a76b9719d911017c592", CRC64NVME: CRC64NVME([]byte("hello"))}, part)
	require.False(t, part.ETagIsMD5())

	require.Len(t, *reqs, 1)
	r := (*reqs)[0]
	require.Equal(t, http.MethodPut, r.Method)
	require.Equal(t, "/bucket/key", r.URL.Path, "path-style addressing")
	require.Equal(t, "XUFAKrxLKna5cZ2REBfFkg==", r.Header.Get("Content-Md5"))
	require.Equal(t, CRC64NVME([]byte("hello")), r.Header.Get("X-Amz-Checksum-Crc64nvme"))
	require.Equal(t, "UNSIGNED-PAYLOAD", r.Header.Get("X-Amz-Content-Sha256"))
	require.Equal(t, "3", r.URL.Query().Get("partNumber"))
	require.Equal(t, "up1", r.URL.Query().Get("uploadId"))

	put, err := m.PutObject(t.Context(), obj, []byte("hello"), ObjectOptions{})
	require.NoError(t, err)
	require.Equal(t, "0123456789abcdef0123456789abcdef", put.ETag)
	require.Equal(t, "UNSIGNED-PAYLOAD", (*reqs)[1].Header.Get("X-Amz-Content-Sha256"))
	require.Equal(t, CRC64NVME([]byte("hello")), (*reqs)[1].Header.Get("X-Amz-Checksum-Crc64nvme"))
	require.NotEmpty(t, (*reqs)[1].Header.Get("Content-Md5"))
}

func TestChecksumRefusedOnceThenOff(t *testing.T) {
	t.Parallel()
	m, reqs := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Checksum-Crc64nvme") != "" || r.Header.Get("X-Amz-Checksum-Algorithm") != "" {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotImplemented)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code>`+
				`<Message>additional checksums are not supported</Message></Error>`)
			return
		}
		w.Header().Set("ETag", `"5d41402abc4b2a76b9719d911017c592"`)
	})
	obj := Object{"bucket", "key"}
	part, err := m.UploadPart(t.Context(), obj, "up1", 1, []byte("hello"), ObjectOptions{})
	require.NoError(t, err)
	require.Empty(t, part.CRC64NVME, "no checksum was stored")
	require.True(t, part.ETagIsMD5())
	require.True(t, m.ChecksumsOff())
	require.Len(t, *reqs, 2, "refused once, then sent without")
	_, err = m.UploadPart(t.Context(), obj, "up1", 2, []byte("hello"), ObjectOptions{})
	require.NoError(t, err)
	require.Len(t, *reqs, 3, "later requests go without checksums at once")
	require.NotEmpty(t, (*reqs)[2].Header.Get("Content-Md5"), "Content-MD5 stays")
}

func TestChecksumMismatchKeepsChecksums(t *testing.T) {
	t.Parallel()
	m, _ := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>BadDigest</Code>`+
			`<Message>The CRC64NVME you specified did not match the calculated checksum.</Message></Error>`)
	})
	_, err := m.UploadPart(t.Context(), Object{"bucket", "key"}, "up1", 1, []byte("hello"), ObjectOptions{})
	require.ErrorIs(t, err, ErrBadDigest)
	require.False(t, m.ChecksumsOff(), "a damaged body is no reason to stop sending checksums")
}

func TestUploadPartRejectsBadNumber(t *testing.T) {
	t.Parallel()
	m, reqs := fakeS3(t, func(http.ResponseWriter, *http.Request) {})
	for _, n := range []int{0, -1, MaxParts + 1} {
		_, err := m.UploadPart(t.Context(), Object{"bucket", "key"}, "up", n, nil, ObjectOptions{})
		require.ErrorContains(t, err, "part number")
	}
	_, err := m.CompleteUpload(t.Context(), Object{"bucket", "key"}, "up", []Part{{Number: 1}, {Number: 1}}, ObjectOptions{})
	require.ErrorIs(t, err, ErrInvalidPart)
	require.Empty(t, *reqs)
}

func TestAccessDeniedHidesSecret(t *testing.T) {
	t.Parallel()
	m, _ := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code>`+
			`<Message>The request signature we calculated does not match.</Message></Error>`)
	})
	_, err := m.StatObject(t.Context(), Object{"bucket", "key"}, ObjectOptions{})
	require.ErrorIs(t, err, ErrAccessDenied)
	require.True(t, Permanent(err))
	require.False(t, strings.Contains(err.Error(), testSecret))
}

func TestListPartsStopsOnStuckMarker(t *testing.T) {
	t.Parallel()
	m, reqs := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>0</NextPartNumberMarker></ListPartsResult>`)
	})
	_, err := m.ListParts(t.Context(), Object{"bucket", "key"}, "up")
	require.ErrorContains(t, err, "marker")
	require.Len(t, *reqs, 1)
}

func TestInvalidBucketNameIsCheckedUpFront(t *testing.T) {
	t.Parallel()
	m, reqs := fakeS3(t, func(http.ResponseWriter, *http.Request) {})
	ctx := t.Context()
	for _, bucket := range []string{"", "ab", "a/b", strings.Repeat("b", 64)} {
		obj := Object{bucket, "key"}
		_, err := m.PutObject(ctx, obj, nil, ObjectOptions{})
		require.ErrorIs(t, err, ErrInvalidBucketName, "%q", bucket)
		require.True(t, Permanent(err))
		_, err = m.ListParts(ctx, obj, "up")
		require.ErrorIs(t, err, ErrInvalidBucketName, "%q", bucket)
		_, err = m.ListUploads(ctx, bucket, "")
		require.ErrorIs(t, err, ErrInvalidBucketName, "%q", bucket)
		_, err = m.BucketExists(ctx, bucket)
		require.ErrorIs(t, err, ErrInvalidBucketName, "%q", bucket)
	}
	require.Empty(t, *reqs)
}
