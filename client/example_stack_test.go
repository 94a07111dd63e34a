package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/partflow/partflow/internal/localstack"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/worker"
	"github.com/partflow/partflow/storage"
)

// exampleStack is what the examples run against: a redis-server, versitygw with the bucket
// "archive", a volume with three files under exports/2024 and one in-process worker.
type exampleStack struct {
	RedisAddr, RedisPassword string
	Volume                   string // the volume root
	stop                     []func() error
}

func startExampleStack() (*exampleStack, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := &exampleStack{}
	dir, err := os.MkdirTemp("", "partflow-example-")
	if err != nil {
		return nil, err
	}
	s.stop = append(s.stop, func() error { return os.RemoveAll(dir) })
	fail := func(err error) (*exampleStack, error) { return nil, errors.Join(err, s.Stop()) }

	r, err := localstack.StartRedis(ctx, localstack.RedisConfig{Dir: filepath.Join(dir, "redis")})
	if err != nil {
		return fail(err)
	}
	s.stop = append(s.stop, r.Stop)
	s.RedisAddr, s.RedisPassword = r.Addr(), r.Password()
	s3, err := localstack.StartS3(ctx, localstack.S3Config{Dir: filepath.Join(dir, "s3")})
	if err != nil {
		return fail(err)
	}
	s.stop = append(s.stop, s3.Stop)
	u, _ := url.Parse(s3.Endpoint)
	mc, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, ""),
		Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		return fail(err)
	}
	if err := mc.MakeBucket(ctx, "archive", minio.MakeBucketOptions{}); err != nil {
		return fail(err)
	}

	s.Volume = filepath.Join(dir, "volume")
	for i, name := range []string{"a.csv", "b.csv", "sub/c.csv"} {
		path := filepath.Join(s.Volume, "exports/2024", name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fail(err)
		}
		if err := os.WriteFile(path, []byte(fmt.Sprintf("row %d\n", i)), 0o644); err != nil {
			return fail(err)
		}
	}
	vol, err := source.OpenVolume(s.Volume)
	if err != nil {
		return fail(err)
	}
	s.stop = append(s.stop, vol.Close)
	st, err := storage.NewMinio(storage.Config{Endpoint: s3.Endpoint, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey})
	if err != nil {
		return fail(err)
	}
	s.stop = append(s.stop, func() error { st.CloseIdleConnections(); return nil })
	rdb := newExampleRedis(s)
	s.stop = append(s.stop, rdb.Close)
	w, err := worker.New(worker.Config{Redis: rdb, S3: st, Sources: vol, Concurrency: 4, JanitorInterval: -1,
		Logger: slog.New(slog.DiscardHandler), ShutdownTimeout: 5 * time.Second, PollInterval: 50 * time.Millisecond})
	if err != nil {
		return fail(err)
	}
	if err := w.Start(); err != nil {
		return fail(err)
	}
	s.stop = append(s.stop, func() error { w.Shutdown(); return nil })
	return s, nil
}

// Stop stops everything startExampleStack started, last first.
func (s *exampleStack) Stop() error {
	var errs []error
	for i := len(s.stop) - 1; i >= 0; i-- {
		errs = append(errs, s.stop[i]())
	}
	return errors.Join(errs...)
}
