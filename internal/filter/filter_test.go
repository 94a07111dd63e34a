package filter_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/filter"
)

// TestPatterns is rclone's pattern table (docs/content/filtering.md) plus the edges.
func TestPatterns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern     string
		match, miss []string
	}{
		{"*.jpg", []string{"file.jpg", "dir/file.jpg"}, []string{"file.png", "dir/file.png", "file.jpg/x"}},
		{"/*.jpg", []string{"file.jpg", "file2.jpg"}, []string{"dir/file.jpg", "file.png"}},
		{"file.jpg", []string{"file.jpg", "directory/file.jpg"}, []string{"afile.jpg", "directory/afile.jpg"}},
		{"/file.jpg", []string{"file.jpg"}, []string{"afile.jpg", "directory/file.jpg"}},
		{"*.{jpg,png}", []string{"file.jpg", "dir/file.png"}, []string{"file.gif", "dir/file.gif"}},
		{"dir/**", []string{"dir/anyfile", "subdir/dir/subsubdir/anyfile"}, []string{"file.png", "subdir/file.png"}},
		{"*.t?t", []string{"file.txt", "dir/file.tzt"}, []string{"file.qxt", "dir/file.png"}},
		{"*.[a-z]", []string{"file.a", "dir/file.b"}, []string{"file.0", "dir/file.1"}},
		{"*.[!a-z]", []string{"file.0"}, []string{"file.a"}},
		{`*.\?\?\?`, []string{"file.???", "dir/file.???"}, []string{"file.abc", "dir/file.def"}},
		{`*.{{jpe?g}}`, []string{"file.jpeg", "dir/file.jpg"}, []string{"file.png", "dir/file.jpeeg"}},
		{`/{{.*\.jpe?g}}`, []string{"file.jpeg", "file.jpg"}, []string{"file.png"}},
		{"{A,B}/**", []string{"A/x", "B/y/z"}, []string{"C/x", "AB/x"}},
		{"data.csv", []string{"data.csv"}, []string{"data_csv", "dataXcsv"}}, // . is literal
		{"a+b(1).txt", []string{"a+b(1).txt"}, []string{"aab1.txt"}},         // regexp metacharacters are literal
		{`*.\d\d\d`, []string{"file.012", "dir/file.345"}, []string{"file.abc", "dir/file.def"}},
		{"??[^[:punct:]]*", []string{"ab1.txt", "abc"}, []string{"ab.txt", "ab-c"}},
	} {
		f, err := filter.New(filter.Config{Include: []string{tc.pattern}})
		require.NoError(t, err, tc.pattern)
		for _, p := range tc.match {
			ok, why := f.Keep(filter.Entry{Path: p})
			require.True(t, ok, "%q should match %q (%s)", tc.pattern, p, why)
		}
		for _, p := range tc.miss {
			ok, _ := f.Keep(filter.Entry{Path: p})
			require.False(t, ok, "%q should not match %q", tc.pattern, p)
		}
	}
}

func TestRuleOrder(t *testing.T) {
	t.Parallel()
	keep := func(cfg filter.Config, p string) bool {
		f, err := filter.New(cfg)
		require.NoError(t, err)
		ok, _ := f.Keep(filter.Entry{Path: p})
		return ok
	}
	// No rules: everything stays.
	require.True(t, keep(filter.Config{}, "x/y.bin"))
	// Excludes only: what no rule matches stays.
	require.False(t, keep(filter.Config{Exclude: []string{"*.tmp"}}, "a/b.tmp"))
	require.True(t, keep(filter.Config{Exclude: []string{"*.tmp"}}, "a/b.csv"))
	// Any include implies "exclude the rest".
	require.False(t, keep(filter.Config{Include: []string{"*.csv"}}, "a/b.json"))
	// Includes are tried before excludes whatever the command-line order (rclone): the first
	// match decides.
	both := filter.Config{Include: []string{"*.csv"}, Exclude: []string{"tmp/**"}}
	require.True(t, keep(both, "tmp/a.csv"))
	require.False(t, keep(both, "tmp/a.json"))
	// A directory exclude drops everything below the directory, at any depth.
	dir := filter.Config{Exclude: []string{"node_modules/"}}
	require.False(t, keep(dir, "web/node_modules/x/y.js"))
	require.False(t, keep(dir, "node_modules/a.js"))
	require.True(t, keep(dir, "web/node_modules.js"))
	require.True(t, keep(filter.Config{Exclude: []string{"/cache/"}}, "x/cache/a"), "a rooted directory exclude is rooted")
	// A directory exclude takes its place after the includes, as rclone orders them.
	require.True(t, keep(filter.Config{Include: []string{"keep/x.txt"}, Exclude: []string{"keep/"}}, "keep/x.txt"))
	require.False(t, keep(filter.Config{Include: []string{"keep/x.txt"}, Exclude: []string{"keep/"}}, "keep/y.txt"))
}

func TestSizeAndAge(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	newer, err := filter.ParseTime("7d", now)
	require.NoError(t, err)
	older, err := filter.ParseTime("1d", now)
	require.NoError(t, err)
	f, err := filter.New(filter.Config{MinSize: 10, MaxSize: 100, NewerThan: newer, OlderThan: older})
	require.NoError(t, err)
	require.True(t, f.NeedsInfo())
	for _, tc := range []struct {
		size int64
		age  time.Duration
		keep bool
		why  string
	}{
		{10, 2 * 24 * time.Hour, true, ""},  // bounds are inclusive
		{100, 7 * 24 * time.Hour, true, ""}, // exactly 7 days old
		{9, 2 * 24 * time.Hour, false, "smaller than --min-size"},
		{101, 2 * 24 * time.Hour, false, "larger than --max-size"},
		{50, 8 * 24 * time.Hour, false, "older than --newer-than allows"},
		{50, time.Hour, false, "newer than --older-than allows"},
	} {
		ok, why := f.Keep(filter.Entry{Path: "f", Size: tc.size, ModTime: now.Add(-tc.age)})
		require.Equal(t, tc.keep, ok, "size %d age %v", tc.size, tc.age)
		require.Equal(t, tc.why, why)
	}
}

func TestFilesFrom(t *testing.T) {
	t.Parallel()
	files, err := filter.ReadFilesFrom(strings.NewReader("# comment\n; also\n\n  file1.jpg  \n/subdir/file2.jpg\n"))
	require.NoError(t, err)
	require.Equal(t, []string{"file1.jpg", "/subdir/file2.jpg"}, files)
	f, err := filter.New(filter.Config{FilesFrom: files})
	require.NoError(t, err)
	for p, want := range map[string]bool{"file1.jpg": true, "subdir/file2.jpg": true, "file3.jpg": false, "x/file1.jpg": false} {
		ok, _ := f.Keep(filter.Entry{Path: p})
		require.Equal(t, want, ok, p)
	}
	empty, err := filter.New(filter.Config{FilesFrom: []string{}})
	require.NoError(t, err)
	ok, _ := empty.Keep(filter.Entry{Path: "a"})
	require.False(t, ok, "an empty --files-from keeps nothing")
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for name, cfg := range map[string]filter.Config{
		"unclosed class":       {Include: []string{"*.[a-z"}},
		"unclosed alternative": {Exclude: []string{"*.{a,b"}},
		"unclosed regexp":      {Include: []string{"{{a+"}},
		"bad regexp":           {Include: []string{"{{(}}"}},
		"trailing backslash":   {Include: []string{`a\`}},
		"empty class":          {Include: []string{"[]"}},
		"include of a dir":     {Include: []string{"dir/"}},
		"sizes crossed":        {MinSize: 10, MaxSize: 5},
		"negative size":        {MinSize: -1},
		"times crossed":        {NewerThan: now, OlderThan: now.Add(-time.Hour)},
		"files-from and rules": {FilesFrom: []string{"a"}, Exclude: []string{"b"}},
	} {
		_, err := filter.New(cfg)
		require.ErrorIs(t, err, filter.ErrInvalid, name)
	}
	for _, s := range []string{"", "yesterday", "-3d", "7x", "2026-13-01"} {
		_, err := filter.ParseTime(s, now)
		require.ErrorIs(t, err, filter.ErrInvalid, s)
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"36h":                  now.Add(-36 * time.Hour),
		"2w":                   now.Add(-14 * 24 * time.Hour),
		"1.5d":                 now.Add(-36 * time.Hour),
		"2026-11-01":           time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		"2026-11-01T10:00:00Z": time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC),
	} {
		got, err := filter.ParseTime(in, now)
		require.NoError(t, err, in)
		require.True(t, want.Equal(got), "%s: got %v, want %v", in, got, want)
	}
}

// FuzzKeep: no pattern makes New or Keep panic, and a compiled filter is deterministic.
func FuzzKeep(f *testing.F) {
	for _, s := range []string{"*.jpg", "/a/**", "{a,{b,c}}", "[!x]?", `\*`, "{{.*}}", "dir/"} {
		f.Add(s, "a/b/c.jpg")
	}
	f.Fuzz(func(t *testing.T, pattern, p string) {
		flt, err := filter.New(filter.Config{Exclude: []string{pattern}})
		if err != nil {
			return
		}
		a, _ := flt.Keep(filter.Entry{Path: p})
		b, _ := flt.Keep(filter.Entry{Path: p})
		if a != b {
			t.Fatalf("Keep(%q) with %q is not deterministic", p, pattern)
		}
	})
}
