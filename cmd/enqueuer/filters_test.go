package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/testenv"
)

// TestMigrateFilters: a --dry-run of a directory shows exactly what the filters keep, and the
// enqueue pass enqueues exactly that (the same filters make the same migration; other filters
// another one).
func TestMigrateFilters(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	root := t.TempDir()
	old := time.Now().Add(-30 * 24 * time.Hour)
	for name, size := range map[string]int{
		"data/a.csv": 10, "data/b.csv": 2000, "data/c.json": 10, "tmp/d.csv": 10, "logs/e.log": 10,
		"data/old.csv": 10, "node_modules/x/y.csv": 10,
	} {
		p := filepath.Join(root, "src", name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, make([]byte, size), 0o644))
		if strings.Contains(name, "old") {
			require.NoError(t, os.Chtimes(p, old, old))
		}
	}
	migrate := func(args ...string) (int, string, string) {
		var stdout, stderr strings.Builder
		code := run(append([]string{"migrate", "--redis-url", r.URL(), "--volume-root", root, "--bucket", "bkt",
			"--source", "src", "--json"}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	type doc struct {
		MigrationID string `json:"migration_id"`
		FilteredOut int64  `json:"filtered_out"`
		Plan        struct {
			Valid     int64    `json:"valid"`
			FirstKeys []string `json:"first_keys"`
		} `json:"plan"`
	}
	decode := func(out string) doc {
		var d doc
		require.NoError(t, json.Unmarshal([]byte(out), &d), out)
		return d
	}

	for _, tc := range []struct {
		name string
		args []string
		keep []string
	}{
		{"include", []string{"--include", "*.csv"}, []string{"data/a.csv", "data/b.csv", "data/old.csv", "node_modules/x/y.csv", "tmp/d.csv"}},
		{"include then exclude", []string{"--exclude", "tmp/**", "--include", "/data/*.csv"}, []string{"data/a.csv", "data/b.csv", "data/old.csv"}},
		{"directory exclude", []string{"--exclude", "node_modules/", "--exclude", "*.log"},
			[]string{"data/a.csv", "data/b.csv", "data/c.json", "data/old.csv", "tmp/d.csv"}},
		{"size", []string{"--min-size", "1KiB"}, []string{"data/b.csv"}},
		{"age", []string{"--include", "*.csv", "--older-than", "7d"}, []string{"data/old.csv"}},
	} {
		code, out, errOut := migrate(append(tc.args, "--dry-run", "--show-keys", "100")...)
		require.Equal(t, 0, code, "%s: %s", tc.name, errOut)
		d := decode(out)
		var keys []string
		for _, k := range d.Plan.FirstKeys {
			keys = append(keys, strings.TrimPrefix(k, "bkt/"))
		}
		slices.Sort(keys)
		require.Equal(t, tc.keep, keys, tc.name)
		require.EqualValues(t, 7-len(tc.keep), d.FilteredOut, tc.name)
	}

	// The enqueue pass enqueues what the dry run showed; the same filters again are the same
	// migration, and no filter is another one.
	code, out, errOut := migrate("--include", "/data/*.csv")
	require.Equal(t, 0, code, errOut)
	first := decode(out)
	require.EqualValues(t, 3, first.Plan.Valid)
	code, out, _ = migrate("--include", "/data/*.csv")
	require.Equal(t, 0, code)
	require.Equal(t, first.MigrationID, decode(out).MigrationID)
	code, out, _ = migrate("--dry-run")
	require.Equal(t, 0, code)
	require.NotEqual(t, first.MigrationID, decode(out).MigrationID)

	// Bad filters are refused with exit 2, naming the flag, and enqueue nothing.
	for _, args := range [][]string{
		{"--include", "*.[a-z"},
		{"--min-size", "lots"},
		{"--max-size", "100"},
		{"--newer-than", "yesterday"},
		{"--files-from", filepath.Join(root, "missing.txt")},
		{"--files-from", "/dev/null", "--include", "*.csv"},
	} {
		code, _, errOut := migrate(args...)
		require.Equal(t, exitUsage, code, "%v: %s", args, errOut)
		require.Contains(t, errOut, strings.TrimPrefix(args[0], "--"), "%v", args)
	}
	manifest := filepath.Join(root, "m.jsonl")
	require.NoError(t, os.WriteFile(manifest, []byte(`{"source":"src/data/a.csv","key":"a.csv"}`+"\n"), 0o644))
	var stdout, stderr strings.Builder
	code = run([]string{"migrate", "--redis-url", r.URL(), "--bucket", "bkt", "--manifest", manifest, "--min-size", "1KiB"},
		&stdout, &stderr)
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr.String(), "need --source DIR")
}
