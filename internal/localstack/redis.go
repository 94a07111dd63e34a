package localstack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// RedisServerPath returns the path of redis-server, or an error that says to run `make tools`,
// which installs it (tests and programs never install anything themselves).
func RedisServerPath() (string, error) {
	return toolPath("redis-server", "Debian's redis-server")
}

// toolPath looks name up in PATH (and /usr/bin, for a PATH without it).
func toolPath(name, what string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if p := filepath.Join("/usr/bin", name); isExecutable(p) {
		return p, nil
	}
	return "", fmt.Errorf("localstack: %s not found: run `make tools` (installs %s)", name, what)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// RedisConfig configures StartRedis.
type RedisConfig struct {
	// Dir holds the log and the AOF files. Required.
	Dir string
	// Port to listen on at 127.0.0.1; 0 picks a free port.
	Port int
	// AppendOnly turns on AOF persistence (appendfsync everysec).
	AppendOnly bool
	// Password, if set, is required from clients (requirepass) and used to reach a master
	// (masterauth).
	Password string
	// Args are further redis-server arguments, e.g. "--replicaof", "127.0.0.1", "6380".
	Args []string
}

func (c *RedisConfig) validate() error {
	if c.Dir == "" {
		return errors.New("RedisConfig.Dir is empty")
	}
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		return fmt.Errorf("RedisConfig.Dir: %w", err)
	}
	c.Dir = abs
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("RedisConfig.Port %d out of range", c.Port)
	}
	return nil
}

// Redis is a running redis-server child process.
type Redis struct {
	cfg  RedisConfig // Port is the actual port
	path string

	mu   sync.Mutex
	proc *Process
}

// StartRedis starts redis-server on 127.0.0.1 and waits until it answers PING.
func StartRedis(ctx context.Context, cfg RedisConfig) (*Redis, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("localstack: start redis: %w", err)
	}
	path, err := RedisServerPath()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("localstack: start redis: %w", err)
	}
	r := &Redis{cfg: cfg, path: path}
	proc, port, err := launch(ctx, r.spec(cfg.Port))
	if err != nil {
		return nil, err
	}
	r.cfg.Port = port
	r.proc = proc
	return r, nil
}

func (r *Redis) spec(port int) launchSpec {
	logPath := filepath.Join(r.cfg.Dir, "redis.log")
	return launchSpec{
		name:    "redis",
		port:    port,
		logPath: logPath,
		command: func(port int) (string, []string, []string) {
			aof := "no"
			if r.cfg.AppendOnly {
				aof = "yes"
			}
			args := []string{
				"--port", strconv.Itoa(port),
				"--bind", "127.0.0.1",
				"--dir", r.cfg.Dir,
				"--save", "",
				"--appendonly", aof,
				"--appendfsync", "everysec",
				"--maxmemory-policy", "noeviction",
				"--protected-mode", "no",
				"--daemonize", "no",
				"--logfile", logPath,
			}
			if r.cfg.Password != "" {
				args = append(args, "--requirepass", r.cfg.Password, "--masterauth", r.cfg.Password)
			}
			return r.path, append(args, r.cfg.Args...), os.Environ()
		},
		probe: func(ctx context.Context, addr string) error { return redisPing(ctx, addr, r.cfg.Password) },
	}
}

// Addr returns "127.0.0.1:PORT".
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.cfg.Port)) }

// Port returns the port the server listens on.
func (r *Redis) Port() int { return r.cfg.Port }

// Dir returns the server's data directory.
func (r *Redis) Dir() string { return r.cfg.Dir }

// Password returns the configured password ("" for none).
func (r *Redis) Password() string { return r.cfg.Password }

// URL returns "redis://127.0.0.1:PORT/0", with the password if one is set.
func (r *Redis) URL() string {
	u := url.URL{Scheme: "redis", Host: r.Addr(), Path: "/0"}
	if r.cfg.Password != "" {
		u.User = url.UserPassword("", r.cfg.Password)
	}
	return u.String()
}

// LogPath returns the path of the server's log file.
func (r *Redis) LogPath() string { return filepath.Join(r.cfg.Dir, "redis.log") }

// Stop sends SIGTERM (Redis flushes its AOF), waits, and sends SIGKILL after
// 5 s. Stopping a stopped server is a no-op.
func (r *Redis) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc.Stop(stopGrace)
}

// Kill sends SIGKILL and waits for the process to exit.
func (r *Redis) Kill() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc.kill()
}

// Restart stops the server (if it still runs) and starts it again on the same
// port and directory, so AOF data survives. It waits until PING answers.
func (r *Redis) Restart(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	// An error only says the old process had already died; start anyway.
	_ = r.proc.Stop(stopGrace)
	proc, _, err := launch(ctx, r.spec(r.cfg.Port))
	if err != nil {
		return fmt.Errorf("localstack: restart redis: %w", err)
	}
	r.proc = proc
	return nil
}

// redisPing authenticates if needed and expects +PONG.
func redisPing(ctx context.Context, addr, password string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var req strings.Builder
	if password != "" {
		fmt.Fprintf(&req, "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(password), password)
	}
	req.WriteString("*1\r\n$4\r\nPING\r\n")
	if _, err := conn.Write([]byte(req.String())); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	if password != "" {
		if line, err := br.ReadString('\n'); err != nil {
			return err
		} else if !strings.HasPrefix(line, "+OK") {
			return fmt.Errorf("AUTH answered %q", strings.TrimSpace(line))
		}
	}
	line, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
