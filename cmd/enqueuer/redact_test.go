package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/testenv"
)

// presigned is a presigned GET URL: its query is a credential.
const presigned = "https://files.example.com/a/b.bin?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE&X-Amz-Signature=deadbeefsecret"

// status and list show a URL source without its query, as text and as JSON.
func TestStatusAndListRedactPresignedQuery(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	rdb := testenv.RedisClient(t, r)
	c, err := client.New(rdb, client.Config{Retention: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	id, err := c.Put(t.Context(), client.PutRequest{Source: presigned, Bucket: "bkt", Key: "k"})
	require.NoError(t, err)

	for _, args := range [][]string{
		{"status", "--redis-url", r.URL(), id.String()},
		{"status", "--redis-url", r.URL(), "--json", id.String()},
		{"status", "--redis-url", r.URL(), id.Migration},
		{"status", "--redis-url", r.URL(), "--json", id.Migration},
		{"list", "--redis-url", r.URL()},
		{"list", "--redis-url", r.URL(), "--json"},
	} {
		var stdout, stderr strings.Builder
		code := run(args, &stdout, &stderr)
		require.Equal(t, 0, code, "%v: %s", args, stderr.String())
		out := stdout.String() + stderr.String()
		require.Contains(t, out, "https://files.example.com/a/b.bin?…", "%v shows the URL", args)
		require.NotContains(t, out, "X-Amz-Signature", "%v: %s", args, out)
		require.NotContains(t, out, "deadbeefsecret", "%v: %s", args, out)
	}
}
