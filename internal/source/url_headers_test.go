package source_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

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
