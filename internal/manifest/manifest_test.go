package manifest_test

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/manifest"
	"github.com/partflow/partflow/storage"
)

// request is the request the lines are resolved against, as `enqueuer migrate` builds it.
func request(t *testing.T) *client.MigrateRequest {
	t.Helper()
	r := &client.MigrateRequest{Bucket: "pf-bucket", Prefix: "in/", Items: client.ItemsOf(),
		AllowURLHosts: []string{"files.example.com", "*.cdn.example.net"}}
	_, err := r.Plan(0) // validates the request
	require.NoError(t, err)
	return r
}

// parse parses and resolves one line as migrate does.
func parse(r *client.MigrateRequest, line string) (client.MigrationItem, error) {
	it, err := manifest.ParseLine(7, []byte(line))
	if err != nil {
		return it, err
	}
	return r.Resolve(it)
}

func TestParseLine(t *testing.T) {
	t.Parallel()
	r := request(t)
	long := strings.Repeat("k", storage.MaxKeyLength-len("in/")+1)
	cases := []struct {
		line    string
		message string // "" for a valid line
	}{
		{`{"source":"a/b.jpg","key":"x/b.jpg"}`, ""},
		{`{"source":"a/b","key":"b","bucket":"other-bucket","content_type":"text/csv","metadata":{"owner":"ops"}}`, ""},
		{`  {"source":"./a/b","key":"b"}  `, ""},
		{`{"source":"https://files.example.com/a?sig=1","key":"b"}`, ""},
		{`{"source":"http://x.cdn.example.net/a","key":"b"}`, ""},
		{`{"source":"a","key":"` + long[:len(long)-1] + `"}`, ""},

		{`{"source":"a","key":"b"`, "invalid JSON"},
		{`not json`, "invalid JSON at byte 2: invalid character 'o'"},
		{`["a","b"]`, "want an object, got array"},
		{`"a"`, "want an object, got string"},
		{`null`, `missing "source"`},
		{`{"source":"a","key":"b"} {"source":"c","key":"d"}`, "more than one value on the line"},
		{`{"source":"a"}`, `line 7: missing "key"`},
		{`{"source":"a","key":""}`, `missing "key"`},
		{`{"key":"b"}`, `missing "source"`},
		{`{"source":"a","key":5}`, `"key" must be a string, got number`},
		{`{"source":"a","key":"b","metadata":{"n":1}}`, `"metadata" must be an object of strings`},
		{`{"source":"a","key":"b","metadata":"x"}`, `"metadata" must be an object of strings`},
		{`{"source":"a","key":"b","contenttype":"x"}`, `unknown field "contenttype"`},
		{`{"source":"a","key":"` + long + `"}`, "object key is 1025 bytes, longer than S3's limit of 1024"},
		{`{"source":"a","key":"b","bucket":"Bad_Bucket"}`, "invalid bucket name"},
		{`{"source":"a","key":"b","bucket":"ab"}`, "invalid bucket name"},
		{`{"source":"../etc/passwd","key":"b"}`, "contains '..'"},
		{`{"source":"a/../../x","key":"b"}`, "contains '..'"},
		{`{"source":"/etc/passwd","key":"b"}`, "is absolute"},
		{`{"source":"a//b","key":"b"}`, "not a clean relative path"},
		{`{"source":"ftp://files.example.com/a","key":"b"}`, "only http:// and https://"},
		{`{"source":"file:///etc/passwd","key":"b"}`, "only http:// and https://"},
		{`{"source":"http://169.254.169.254/latest/meta-data","key":"b"}`, `URL host "169.254.169.254" is not allowed`},
		{`{"source":"https://cdn.example.net/a","key":"b"}`, `URL host "cdn.example.net" is not allowed`},
		{`{"source":"https://evil.com/files.example.com","key":"b"}`, `URL host "evil.com" is not allowed`},
		{`{"source":"https://user:pw@files.example.com/a","key":"b"}`, "carries credentials"},
		{`{"source":"https:///a","key":"b"}`, "no host"},
		{`{"source":"a","key":"b","metadata":{"bad name":"x"}}`, `metadata name "bad name"`},
		{`{"source":"a","key":"b","metadata":{"n":"a\nb"}}`, "control characters"},
		{`{"source":"a","key":"b","metadata":{"n":"` + strings.Repeat("v", 2100) + `"}}`, "more than S3's limit of 2048"},
		{`{"source":"a","key":"b","content_type":"not a type"}`, "is not a media type"},
	}
	for _, c := range cases {
		it, err := parse(r, c.line)
		if c.message == "" {
			require.NoError(t, err, c.line)
			require.True(t, strings.HasPrefix(it.Key, "in/"), c.line)
			require.NotEmpty(t, it.ContentType, c.line)
			require.Equal(t, "line 7", it.Where)
			continue
		}
		require.Error(t, err, c.line)
		require.ErrorIs(t, err, client.ErrInvalid, c.line)
		require.Contains(t, err.Error(), c.message, c.line)
		require.True(t, strings.HasPrefix(err.Error(), "line 7: "), "%q: the line number leads: %v", c.line, err)
		require.NotContains(t, err.Error(), "Go struct", c.line)
	}
}

func TestResolveFillsDefaults(t *testing.T) {
	t.Parallel()
	r := request(t)
	it, err := parse(r, `{"source":"a/photo.JPG","key":"2024/photo.jpg"}`)
	require.NoError(t, err)
	require.Equal(t, client.MigrationItem{Source: "a/photo.JPG", Key: "in/2024/photo.jpg", Bucket: "pf-bucket",
		ContentType: "image/jpeg", Fingerprint: "a/photo.JPG", Where: "line 7"}, it)

	it, err = parse(r, `{"source":"a/b","key":"data.unknownext"}`)
	require.NoError(t, err)
	require.Equal(t, "application/octet-stream", it.ContentType)

	it, err = parse(r, `{"source":"a/b","key":"b.jpg","content_type":"text/plain","bucket":"own-bucket","metadata":{"k":"v"}}`)
	require.NoError(t, err)
	require.Equal(t, "text/plain", it.ContentType, "the manifest's type wins")
	require.Equal(t, "own-bucket", it.Bucket)
	require.Equal(t, map[string]string{"k": "v"}, it.Metadata)
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`{"source":"a/b","key":"k"}`, `{"source":"../x","key":"k"}`, `{"source":"http://h/x","key":"k"}`,
		`{"source":"a","key":"k","metadata":{"a":"b"}}`, `{`, `[]`, `null`, `{"source":"a","key":"k","bucket":"b"}`,
	} {
		f.Add(s)
	}
	r := &client.MigrateRequest{Bucket: "pf-bucket", Prefix: "p/", Items: client.ItemsOf(), AllowURLHosts: []string{"h"}}
	if _, err := r.Plan(0); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		it, err := manifest.ParseLine(1, []byte(line))
		if err == nil {
			it, err = r.Resolve(it)
		}
		if err != nil {
			if !errors.Is(err, client.ErrInvalid) || !strings.HasPrefix(err.Error(), "line 1: ") {
				t.Fatalf("%q: error %v must wrap ErrInvalid and name the line", line, err)
			}
			return
		}
		// What passes is safe to hand to workers.
		if err := storage.ValidateObject(storage.Object{Bucket: it.Bucket, Key: it.Key}); err != nil {
			t.Fatalf("%q: accepted an invalid object: %v", line, err)
		}
		if !strings.HasPrefix(it.Key, "p/") || !utf8.ValidString(it.Key) {
			t.Fatalf("%q: key %q", line, it.Key)
		}
		src := it.Source
		if strings.Contains(src, "://") {
			u, err := url.Parse(src)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() != "h" || u.User != nil {
				t.Fatalf("%q: accepted URL %q", line, src)
			}
			return
		}
		if strings.HasPrefix(src, "/") || src == ".." || strings.HasPrefix(src, "../") || strings.Contains(src, "/../") ||
			strings.HasSuffix(src, "/..") {
			t.Fatalf("%q: accepted a path %q that escapes the volume", line, src)
		}
	})
}

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.jsonl")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// collect runs one pass and returns the items' keys (or error text) in order.
func collect(f *manifest.File) (out []string, fatal error) {
	for it, err := range f.Items() {
		switch {
		case errors.Is(err, client.ErrInvalid):
			out = append(out, "ERR "+err.Error())
		case err != nil:
			return out, err
		default:
			out = append(out, it.Where+" "+it.Key)
		}
	}
	return out, nil
}

func TestFileStreamsLines(t *testing.T) {
	t.Parallel()
	content := "\xef\xbb\xbf" + `{"source":"a","key":"k1"}` + "\r\n\n   \n" +
		`{"source":"a","key":"k2"}` + "\n" +
		`{"source":"a","key":"` + strings.Repeat("x", manifest.MaxLineBytes) + `"}` + "\n" +
		`{"source":"a","key":"k4"}` // no final line break
	f, err := manifest.Open(write(t, content), "")
	require.NoError(t, err)
	defer f.Close()
	got, err := collect(f)
	require.NoError(t, err)
	require.Equal(t, []string{"line 1 k1", "line 4 k2", "ERR line 5: longer than 1048576 bytes", "line 6 k4"}, got)
	require.EqualValues(t, 6, f.Lines())
	sum := f.SHA256()
	require.Len(t, sum, 64)

	again, err := collect(f)
	require.NoError(t, err)
	require.Equal(t, got, again, "a second pass yields the same")
	require.Equal(t, sum, f.SHA256())
}

func TestFileDetectsChangeBetweenPasses(t *testing.T) {
	t.Parallel()
	p := write(t, `{"source":"a","key":"k1"}`+"\n")
	f, err := manifest.Open(p, "")
	require.NoError(t, err)
	_, err = collect(f)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, []byte(`{"source":"a","key":"k2"}`+"\n"), 0o644))
	_, err = collect(f)
	require.ErrorIs(t, err, manifest.ErrChanged)
	require.NotErrorIs(t, err, client.ErrInvalid, "a changed manifest ends the pass")
}

func TestSpoolReadsOnce(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, `{"source":"s/%d","key":"k/%d"}`+"\n", i, i)
	}
	dir := t.TempDir()
	f, err := manifest.Spool(strings.NewReader(b.String()), dir)
	require.NoError(t, err)
	first, err := collect(f)
	require.NoError(t, err)
	second, err := collect(f)
	require.NoError(t, err)
	require.Len(t, first, 1000)
	require.Equal(t, first, second)
	require.NoError(t, f.Close())
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, left, "Close removes the spooled copy")
}

func TestOpenSpoolsPipes(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	go func() {
		fmt.Fprintln(w, `{"source":"a","key":"k"}`)
		w.Close()
	}()
	defer r.Close()
	f, err := manifest.Open(fmt.Sprintf("/proc/self/fd/%d", r.Fd()), t.TempDir())
	require.NoError(t, err)
	defer f.Close()
	for range 2 {
		got, err := collect(f)
		require.NoError(t, err)
		require.Equal(t, []string{"line 1 k"}, got)
	}
}

func TestFileEdgeCases(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{
		"":           nil,
		"\n\n  \r\n": nil,
		strings.Repeat("x", manifest.MaxLineBytes+10):                  {"ERR line 1: longer than 1048576 bytes"},
		`{"source":"a","key":"k"}` + "\n" + strings.Repeat("y", 70000): {"line 1 k", "ERR line 2: invalid JSON at byte 1: invalid character 'y' looking for beginning of value"},
	}
	for content, want := range cases {
		f, err := manifest.Open(write(t, content), "")
		require.NoError(t, err)
		got, err := collect(f)
		require.NoError(t, err)
		require.Equal(t, want, got, "%.40q", content)
	}
}
