package localstack

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// VersitygwModule is the pinned S3 server that `make tools` installs.
const VersitygwModule = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

const moduleLine = "module github.com/partflow/partflow"

// VersitygwPath returns the versitygw binary: $PARTFLOW_VERSITYGW if set,
// else <module root>/.tools/bin/versitygw if it exists, else versitygw from
// PATH.
func VersitygwPath() (string, error) {
	if p := os.Getenv("PARTFLOW_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("localstack: PARTFLOW_VERSITYGW: %w", err)
		}
		return p, nil
	}
	if root, ok := moduleRoot(); ok {
		p := filepath.Join(root, ".tools", "bin", "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("localstack: versitygw not found: run `make tools` (installs %s into .tools/bin)", VersitygwModule)
}

// moduleRoot walks up from the working directory to partflow's go.mod.
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			first := sc.Scan() && strings.TrimSpace(sc.Text()) == moduleLine
			f.Close()
			if first {
				return dir, true
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// S3Config configures StartS3.
type S3Config struct {
	// Dir holds meta/, data/ and versitygw.log. Required.
	Dir string
	// Port to listen on at 127.0.0.1; 0 picks a free port.
	Port int
	// AccessKey defaults to "partflow"; SecretKey to a random hex string.
	AccessKey, SecretKey string
}

func (c *S3Config) validate() error {
	if c.Dir == "" {
		return errors.New("S3Config.Dir is empty")
	}
	abs, err := filepath.Abs(c.Dir) // versitygw needs absolute meta/data paths
	if err != nil {
		return fmt.Errorf("S3Config.Dir: %w", err)
	}
	c.Dir = abs
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("S3Config.Port %d out of range", c.Port)
	}
	if c.AccessKey == "" {
		c.AccessKey = "partflow"
	}
	if c.SecretKey == "" {
		b := make([]byte, 20)
		_, _ = rand.Read(b)
		c.SecretKey = hex.EncodeToString(b)
	}
	return nil
}

// S3 is a running versitygw (posix backend) child process.
type S3 struct {
	// Endpoint is "http://127.0.0.1:PORT".
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string
	// Port is the port the server listens on.
	Port int
	// Dir holds meta/, data/ and versitygw.log.
	Dir string

	mu   sync.Mutex
	proc *Process
}

// StartS3 starts `versitygw posix --sidecar Dir/meta Dir/data` on 127.0.0.1
// and waits until it answers HTTP.
func StartS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("localstack: start s3: %w", err)
	}
	bin, err := VersitygwPath()
	if err != nil {
		return nil, err
	}
	meta, data := filepath.Join(cfg.Dir, "meta"), filepath.Join(cfg.Dir, "data")
	for _, d := range []string{meta, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("localstack: start s3: %w", err)
		}
	}
	spec := launchSpec{
		name:    "versitygw",
		port:    cfg.Port,
		logPath: filepath.Join(cfg.Dir, "versitygw.log"),
		command: func(port int) (string, []string, []string) {
			args := []string{"--port", "127.0.0.1:" + strconv.Itoa(port), "posix", "--sidecar", meta, data}
			// Drop inherited settings that would override ours.
			env := childEnv([]string{"ROOT_", "VGW_"},
				"ROOT_ACCESS_KEY="+cfg.AccessKey, "ROOT_SECRET_KEY="+cfg.SecretKey)
			return bin, args, env
		},
		probe: httpProbe,
	}
	proc, port, err := launch(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &S3{
		Endpoint:  "http://127.0.0.1:" + strconv.Itoa(port),
		AccessKey: cfg.AccessKey,
		SecretKey: cfg.SecretKey,
		Port:      port,
		Dir:       cfg.Dir,
		proc:      proc,
	}, nil
}

// LogPath returns the path of the server's log file.
func (s *S3) LogPath() string { return filepath.Join(s.Dir, "versitygw.log") }

// Stop sends SIGTERM, waits, and sends SIGKILL after 5 s. Idempotent.
func (s *S3) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc.Stop(stopGrace)
}

// Kill sends SIGKILL and waits for the process to exit.
func (s *S3) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc.kill()
}

// httpProbe succeeds on any HTTP response (an anonymous request gets 403).
func httpProbe(ctx context.Context, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return err
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
