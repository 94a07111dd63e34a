package localstack_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/partflow/partflow/internal/localstack"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == fakeWorkerArg {
		os.Exit(fakeWorker())
	}
	goleak.VerifyTestMain(m)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestFreePort(t *testing.T) {
	t.Parallel()
	// Another test (or package) may take a port between FreePort and Listen, as it may for any
	// caller: a free port is bindable most of the time, not every time.
	var errs []error
	for range 5 {
		port, err := localstack.FreePort()
		require.NoError(t, err)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			require.NoError(t, l.Close())
			return
		}
		errs = append(errs, err)
	}
	t.Fatalf("none of five free ports was bindable: %v", errs)
}

func TestRedisStartStopKill(t *testing.T) {
	t.Parallel()
	r, err := localstack.StartRedis(ctx(t), localstack.RedisConfig{Dir: t.TempDir(), Password: "s3cret"})
	require.NoError(t, err)
	require.Equal(t, "redis://:s3cret@"+r.Addr()+"/0", r.URL())
	require.True(t, strings.HasPrefix(r.Addr(), "127.0.0.1:"))

	require.NoError(t, r.Stop())
	require.NoError(t, r.Stop(), "Stop is idempotent")
	_, err = net.DialTimeout("tcp", r.Addr(), time.Second)
	require.Error(t, err, "nothing listens after Stop")

	require.NoError(t, r.Restart(ctx(t)))
	require.NoError(t, r.Kill())
	require.NoError(t, r.Stop(), "Stop after Kill is a no-op")
}

func TestRedisFixedPortInUse(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	_, err = localstack.StartRedis(ctx(t), localstack.RedisConfig{Dir: t.TempDir(), Port: port})
	require.Error(t, err)
	require.Contains(t, err.Error(), "localstack: start redis")
	require.Contains(t, strings.ToLower(err.Error()), "address already in use", "the error carries the log tail")
}

func TestRedisCrashReportedByStop(t *testing.T) {
	t.Parallel()
	r, err := localstack.StartRedis(ctx(t), localstack.RedisConfig{Dir: t.TempDir()})
	require.NoError(t, err)
	conn, err := net.Dial("tcp", r.Addr())
	require.NoError(t, err)
	_, err = conn.Write([]byte("*1\r\n$8\r\nSHUTDOWN\r\n"))
	require.NoError(t, err)
	_ = conn.Close()

	// Not until the port is closed: redis closes its listener before it exits.
	require.Eventually(t, func() bool { return localstack.RedisExited(r) }, 10*time.Second, 20*time.Millisecond,
		"waited for redis to exit after SHUTDOWN")
	err = r.Stop()
	require.ErrorContains(t, err, "exited before it was stopped")
	require.NoError(t, r.Stop(), "only the first Stop reports the crash")
}

func TestVersitygwPathEnv(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "versitygw")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	t.Setenv("PARTFLOW_VERSITYGW", bin)
	got, err := localstack.VersitygwPath()
	require.NoError(t, err)
	require.Equal(t, bin, got)
}

func TestS3StartStop(t *testing.T) {
	t.Parallel()
	if _, err := localstack.VersitygwPath(); err != nil {
		t.Fatal(err)
	}
	s, err := localstack.StartS3(ctx(t), localstack.S3Config{Dir: t.TempDir()})
	require.NoError(t, err)
	require.Equal(t, "partflow", s.AccessKey)
	require.Len(t, s.SecretKey, 40)
	require.Equal(t, "http://127.0.0.1:"+strconv.Itoa(s.Port), s.Endpoint)
	require.DirExists(t, filepath.Join(s.Dir, "meta"))
	require.NoError(t, s.Stop())
	require.NoError(t, s.Stop())
	_, err = net.DialTimeout("tcp", strings.TrimPrefix(s.Endpoint, "http://"), time.Second)
	require.Error(t, err, "nothing listens after Stop")
}
