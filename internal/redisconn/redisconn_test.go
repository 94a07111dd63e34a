package redisconn_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/redisconn"
)

// TestConnectTellsABadURLFromAnUnreachableRedis: the commands exit 2 for the one and 3 for
// the other, so Connect's errors must tell them apart.
func TestConnectTellsABadURLFromAnUnreachableRedis(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now

	_, err = redisconn.Connect(t.Context(), redisconn.Config{URL: "redis://" + addr + "/0"}, 5*time.Second)
	require.ErrorIs(t, err, redisconn.ErrUnreachable)
	require.Contains(t, err.Error(), "cannot reach Redis: ")

	_, err = redisconn.Connect(t.Context(), redisconn.Config{URL: "http://" + addr}, 5*time.Second)
	require.Error(t, err)
	require.NotErrorIs(t, err, redisconn.ErrUnreachable, "a bad URL is not an unreachable Redis")
}
