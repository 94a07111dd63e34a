package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// The S3 source store never borrows the destination's credentials by accident: without its
// own keys or profile the worker exits 2 naming the variables; contradicting or half-given
// settings are refused the same way.
func TestWorkerSourceStoreConfig(t *testing.T) {
	const ep = "http://127.0.0.1:2"
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no source credentials", map[string]string{"AWS_ACCESS_KEY_ID": "dst", "AWS_SECRET_ACCESS_KEY": "dstsecret"},
			[]string{"--source-s3-endpoint", ep}, "PARTFLOW_SOURCE_AWS_ACCESS_KEY_ID"},
		{"key without secret", map[string]string{"PARTFLOW_SOURCE_AWS_ACCESS_KEY_ID": "k"},
			[]string{"--source-s3-endpoint", ep}, "PARTFLOW_SOURCE_AWS_SECRET_ACCESS_KEY"},
		{"keys and profile", map[string]string{"PARTFLOW_SOURCE_AWS_ACCESS_KEY_ID": "k",
			"PARTFLOW_SOURCE_AWS_SECRET_ACCESS_KEY": "s", "PARTFLOW_SOURCE_AWS_PROFILE": "old"},
			[]string{"--source-s3-endpoint", ep}, "PARTFLOW_SOURCE_AWS_PROFILE"},
		{"destination and own keys", map[string]string{"PARTFLOW_SOURCE_AWS_ACCESS_KEY_ID": "k",
			"PARTFLOW_SOURCE_AWS_SECRET_ACCESS_KEY": "s"},
			[]string{"--source-s3-endpoint", ep, "--source-s3-credentials", "destination"}, "PARTFLOW_SOURCE_S3_CREDENTIALS"},
		{"keys without endpoint", map[string]string{"PARTFLOW_SOURCE_AWS_ACCESS_KEY_ID": "k",
			"PARTFLOW_SOURCE_AWS_SECRET_ACCESS_KEY": "s"}, nil, "PARTFLOW_SOURCE_S3_ENDPOINT"},
		{"bad endpoint", map[string]string{"PARTFLOW_SOURCE_AWS_PROFILE": "old"},
			[]string{"--source-s3-endpoint", "ftp://x"}, "source-s3-endpoint"},
		{"bad copy mode", nil, []string{"--source-s3-copy", "sometimes"}, "source-s3-copy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runWorker(t, tc.env, tc.args...)
			require.Equal(t, 2, code, stderr)
			require.Contains(t, stderr, tc.want)
			require.NotContains(t, stderr, "dstsecret")
		})
	}
}

// Server-side copies: automatic only for the destination's own endpoint read with the
// destination's credentials; always and never as asked.
func TestWorkerSourceStoreCopyMode(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		copy bool
	}{
		{"same endpoint, destination credentials", nil,
			[]string{"--source-s3-endpoint", "http://127.0.0.1:1/", "--source-s3-credentials", "destination"}, true},
		{"same endpoint, own credentials", map[string]string{"PARTFLOW_SOURCE_AWS_PROFILE": "src"},
			[]string{"--source-s3-endpoint", "http://127.0.0.1:1"}, false},
		{"always", map[string]string{"PARTFLOW_SOURCE_AWS_PROFILE": "src"},
			[]string{"--source-s3-endpoint", "http://other:9000", "--source-s3-copy", "always"}, true},
		{"never", nil, []string{"--source-s3-endpoint", "http://127.0.0.1:1", "--source-s3-credentials", "destination",
			"--source-s3-copy", "never"}, false},
		{"other endpoint", nil, []string{"--source-s3-endpoint", "http://127.0.0.2:1", "--source-s3-credentials", "destination"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PARTFLOW_S3_ENDPOINT", "http://127.0.0.1:1")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			cfg, code, ok := parseConfig(tc.args, &out, &errOut)
			require.True(t, ok, "code %d: %s", code, errOut.String())
			require.NotNil(t, cfg.sourceS3.cfg)
			require.Equal(t, tc.copy, cfg.sourceS3.copy)
		})
	}
}
