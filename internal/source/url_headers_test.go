package source_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/source"
)

func TestLoadURLHeaders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
		return path
	}

	h, err := source.LoadURLHeaders(write("ok.json",
		`{"files.example.com": {"authorization": "Bearer abc"}, "cdn.example.com:8443": {"X-Api-Key": "k"}}`))
	require.NoError(t, err)
	require.Equal(t, map[string]http.Header{
		"files.example.com":    {"Authorization": {"Bearer abc"}},
		"cdn.example.com:8443": {"X-Api-Key": {"k"}},
	}, h)
	r, err := source.NewURLReader(source.URLConfig{AllowHosts: []string{"*.example.com"}, Headers: h})
	require.NoError(t, err, "a loaded file is a valid configuration")
	require.NoError(t, r.Close())

	for name, body := range map[string]string{
		"syntax.json": `{"files.example.com": {"Authorization": Bearer-hunter2}}`,
		"type.json":   `{"files.example.com": {"Authorization": ["hunter2"]}}`,
		"flat.json":   `{"Authorization": "hunter2"}`,
	} {
		_, err := source.LoadURLHeaders(write(name, body))
		require.ErrorContains(t, err, "want a JSON object of string values", name)
		require.NotContains(t, err.Error(), "hunter2", "%s: an error never quotes the file", name)
		require.NotContains(t, err.Error(), "'B'", name)
	}
	_, err = source.LoadURLHeaders(filepath.Join(dir, "missing.json"))
	require.ErrorContains(t, err, "no such file")
}

// Headers whose key names no http:// origin go over https only: a plain http request to that
// host is refused (never sent without them, never with them in clear); over https they go.
func TestURLSecretHeadersOverHTTPSOnly(t *testing.T) {
	t.Parallel()
	const secret = "Bearer s3cr3t-https-only"
	var got []string // Authorization headers the origins saw
	var mu sync.Mutex
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Scheme+"|"+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader("0123456789"))
	})
	plain := httptest.NewServer(handler)
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewTLSServer(handler)
	t.Cleanup(tlsSrv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(tlsSrv.Certificate())
	port := func(u string) string { return u[strings.LastIndex(u, ":")+1:] }

	newR := func(key string) *source.URLReader {
		r, err := source.NewURLReader(source.URLConfig{AllowHosts: []string{"127.0.0.1"},
			AllowAddrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, TLSConfig: &tls.Config{RootCAs: roots},
			Headers: map[string]http.Header{key: {"Authorization": {secret}}}, Timeout: 5 * time.Second})
		require.NoError(t, err)
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	ctx := t.Context()

	httpsOnly := newR("127.0.0.1")
	_, err := httpsOnly.Stat(ctx, "http://127.0.0.1:"+port(plain.URL)+"/x")
	require.ErrorIs(t, err, source.ErrForbidden)
	require.Contains(t, err.Error(), "https only")
	require.NotContains(t, err.Error(), "s3cr3t")
	mu.Lock()
	require.Empty(t, got, "no request went out over http")
	mu.Unlock()
	_, err = httpsOnly.Stat(ctx, tlsSrv.URL+"/x")
	require.NoError(t, err)

	_, err = newR("http://127.0.0.1:"+port(plain.URL)).Stat(ctx, plain.URL+"/x")
	require.NoError(t, err, "an http:// origin in the file allows plain http")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 2)
	for _, g := range got {
		require.True(t, strings.HasSuffix(g, secret), "the header went with each allowed request: %q", g)
	}
}
