package storage

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTLSUnknownAuthorityThenCABundle(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	ctx := t.Context()

	m, err := NewMinio(Config{Endpoint: srv.URL, AccessKey: "ak", SecretKey: testSecret, MaxRetries: 1})
	require.NoError(t, err)
	_, err = m.BucketExists(ctx, "bucket")
	require.ErrorIs(t, err, ErrTLS)
	require.ErrorContains(t, err, "unknown authority: give its CA with --s3-ca-bundle")

	bundle := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	require.NoError(t, os.WriteFile(bundle, pemBytes, 0o600))
	m, err = NewMinio(Config{Endpoint: srv.URL, AccessKey: "ak", SecretKey: testSecret, MaxRetries: 1, CABundle: bundle})
	require.NoError(t, err)
	ok, err := m.BucketExists(ctx, "bucket")
	require.NoError(t, err)
	require.True(t, ok)

	_, err = NewMinio(Config{Endpoint: srv.URL, AccessKey: "ak", SecretKey: testSecret, CABundle: bundle + ".missing"})
	require.ErrorContains(t, err, "CABundle")
}

func TestTLSToPlainHTTPServer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	m, err := NewMinio(Config{Endpoint: strings.Replace(srv.URL, "http://", "https://", 1), AccessKey: "ak",
		SecretKey: testSecret, MaxRetries: 1})
	require.NoError(t, err)
	_, err = m.BucketExists(t.Context(), "bucket")
	require.ErrorIs(t, err, ErrTLS)
	require.ErrorContains(t, err, "is the endpoint http://")
}
