package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The enqueuer cannot reach S3 sources (their credentials live in the workers): it checks the
// s3:// syntax only, and leaves listing an S3 prefix to the fleet.
func TestEnqueuerS3Sources(t *testing.T) {
	dir := t.TempDir()
	write := func(line string) string {
		p := filepath.Join(dir, "m.jsonl")
		require.NoError(t, os.WriteFile(p, []byte(line+"\n"), 0o644))
		return p
	}
	migrate := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"migrate", "--bucket", "archive", "--dry-run", "--json"}, args...), &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	code, out := migrate("--manifest", write(`{"source":"s3://old-bucket/2024/a.parquet","key":"a.parquet"}`))
	require.Equal(t, exitOK, code, "a well-formed s3:// source: %s", out)
	for line, want := range map[string]string{
		`{"source":"s3://Old_Bucket/a","key":"a"}`: "lower-case",
		`{"source":"s3://old-bucket/","key":"a"}`:  "the key is empty",
	} {
		code, out = migrate("--manifest", write(line))
		require.Equal(t, exitUsage, code, "%s: %s", line, out)
		require.Contains(t, out, want)
	}
	// An S3 prefix is listed by the fleet: the enqueuer dry-runs it only when given the source
	// store (--source-s3-endpoint), and the feeder needs a window.
	code, out = migrate("--source", "s3://old-bucket/2024/")
	require.Equal(t, exitUsage, code, out)
	require.Contains(t, out, "--dry-run lists an S3 prefix only with --source-s3-endpoint")
	code, out = migrate("--source", "s3://old-bucket/2024/", "--window", "0")
	require.Equal(t, exitUsage, code, out)
	require.Contains(t, out, "--window 0")
	code, out = migrate("--source", "s3://Old_Bucket/2024/")
	require.Equal(t, exitUsage, code, out)
	require.Contains(t, out, "lower-case")
}
