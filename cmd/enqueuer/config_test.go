package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A bad PARTFLOW_REDIS_CLUSTER used to mean "not a cluster"; now it stops every command
// with exit 2, naming the variable.
func TestEnqueuerRejectsBadVariable(t *testing.T) {
	t.Setenv("PARTFLOW_REDIS_CLUSTER", "yes")
	var stdout, stderr bytes.Buffer
	code := run([]string{"list"}, &stdout, &stderr)
	require.Equal(t, exitUsage, code, stderr.String())
	require.Contains(t, stderr.String(), "PARTFLOW_REDIS_CLUSTER")
}

func TestEnqueuerVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"list", "--version"}} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, exitOK, run(args, &stdout, &stderr), stderr.String())
		require.True(t, strings.HasPrefix(stdout.String(), "partflow-enqueuer "), stdout.String())
	}
}
