package localstack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/redis/go-redis/v9"
)

// StackConfig configures StartStack.
type StackConfig struct {
	// Dir holds redis/, s3/, volume/ and the workers' logs. Required.
	Dir string
	// Bucket is created when not empty.
	Bucket string
	// Transport is the S3 client's; nil: a clone of http.DefaultTransport.
	Transport http.RoundTripper
}

// Stack is the local stack of `make demo` and `make bench`: a redis-server (AOF on),
// versitygw and a volume directory under one directory, clients of both servers, and the
// worker processes once StartWorkers ran.
type Stack struct {
	Dir     string
	Volume  string // the workers' --volume-root
	Redis   *Redis
	S3      *S3
	RDB     *redis.Client
	Minio   *minio.Client
	Workers []*Process
}

// StartStack starts redis-server and versitygw under cfg.Dir, opens their clients and
// creates cfg.Bucket. The stack it returns, also with an error, holds what was started:
// Stop it.
func StartStack(ctx context.Context, cfg StackConfig) (*Stack, error) {
	if cfg.Dir == "" {
		return &Stack{}, errors.New("localstack: StackConfig.Dir is empty")
	}
	s := &Stack{Dir: cfg.Dir, Volume: filepath.Join(cfg.Dir, "volume")}
	if err := os.MkdirAll(s.Volume, 0o755); err != nil {
		return s, err
	}
	var err error
	if s.Redis, err = StartRedis(ctx, RedisConfig{Dir: filepath.Join(cfg.Dir, "redis"), AppendOnly: true}); err != nil {
		return s, err
	}
	s.RDB = redis.NewClient(&redis.Options{Addr: s.Redis.Addr(), Password: s.Redis.Password()})
	if s.S3, err = StartS3(ctx, S3Config{Dir: filepath.Join(cfg.Dir, "s3")}); err != nil {
		return s, err
	}
	if s.Minio, err = MinioClient(s.S3.Endpoint, s.S3, cfg.Transport); err != nil {
		return s, err
	}
	if cfg.Bucket != "" {
		if err := s.Minio.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{}); err != nil {
			return s, fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
		}
	}
	return s, nil
}

// MinioClient returns a minio-go client of endpoint (s's, or a proxy in front of it) with
// s's credentials, path-style, in us-east-1; tr nil means a clone of http.DefaultTransport.
func MinioClient(endpoint string, s *S3, tr http.RoundTripper) (*minio.Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("localstack: minio client: parse endpoint %q: %w", endpoint, err)
	}
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	return minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
		Transport:    tr,
	})
}

// StartWorkers stops the stack's workers, if any, and starts count new ones of bin (with
// args) on the stack's Redis, S3 and volume, logging to Dir/worker-N.log (see the function
// StartWorkers).
func (s *Stack) StartWorkers(ctx context.Context, bin string, count int, args ...string) error {
	if err := s.StopWorkers(); err != nil {
		return err
	}
	var err error
	s.Workers, err = StartWorkers(ctx, WorkersConfig{Bin: bin, Count: count, Args: args,
		RedisURL: s.Redis.URL(), S3: s.S3, VolumeRoot: s.Volume, LogDir: s.Dir})
	return err
}

// stackStopGrace is how long a worker may finish after SIGTERM when the stack stops it.
const stackStopGrace = 15 * time.Second

// StopWorkers stops the stack's workers; an error names each that had exited on its own.
func (s *Stack) StopWorkers() error {
	var errs []error
	for i, err := range StopAll(stackStopGrace, s.Workers...) {
		if err != nil {
			w := s.Workers[i]
			errs = append(errs, fmt.Errorf("%s exited while the stack ran (%v); see %s", w.Name(), w.Wait(), w.LogPath()))
		}
	}
	s.Workers = nil
	return errors.Join(errs...)
}

// Stop closes the Redis client and stops the servers (not the workers: StopWorkers), and
// returns what went wrong, one error per server.
func (s *Stack) Stop() []error {
	var errs []error
	if s.RDB != nil {
		_ = s.RDB.Close()
	}
	if s.Redis != nil {
		if err := s.Redis.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.S3 != nil {
		if err := s.S3.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Started reports whether any server was started.
func (s *Stack) Started() bool { return s.Redis != nil || s.S3 != nil }

// ObjectSHA256 reads an object back and returns the hex SHA-256 of its content and its size.
func ObjectSHA256(ctx context.Context, mc *minio.Client, bucket, key string) (sum string, size int64, err error) {
	obj, err := mc.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return "", 0, err
	}
	defer obj.Close()
	h := sha256.New()
	if size, err = io.Copy(h, obj); err != nil {
		return "", size, fmt.Errorf("localstack: read back %s/%s: %w", bucket, key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}
