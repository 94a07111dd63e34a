package localstack

import (
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
	"time"
)

// SentinelConfig configures StartSentinel.
type SentinelConfig struct {
	// Dir holds sentinel.conf (which Sentinel rewrites) and sentinel.log. Required.
	Dir string
	// Port to listen on at 127.0.0.1; 0 picks a free port.
	Port int
	// MasterName names the monitored master, as redis-sentinel:// URLs do. Required.
	MasterName string
	// MasterAddr is the master's host:port. Required.
	MasterAddr string
	// MasterPassword is the master's (and its replicas') password, if any.
	MasterPassword string
	// Quorum is how many sentinels must agree that the master is down; default 2.
	Quorum int
	// DownAfter is how long the master may not answer before it counts as down; default 1s.
	DownAfter time.Duration
}

// Sentinel is a running Redis Sentinel child process (redis-server --sentinel).
type Sentinel struct {
	cfg  SentinelConfig
	proc *Process
	mu   sync.Mutex
}

// StartSentinel starts a Sentinel that monitors cfg.MasterAddr and waits until it answers PING.
func StartSentinel(ctx context.Context, cfg SentinelConfig) (*Sentinel, error) {
	if cfg.Dir == "" || cfg.MasterName == "" || cfg.MasterAddr == "" {
		return nil, errors.New("localstack: start sentinel: SentinelConfig needs Dir, MasterName and MasterAddr")
	}
	if cfg.Quorum == 0 {
		cfg.Quorum = 2
	}
	if cfg.DownAfter == 0 {
		cfg.DownAfter = time.Second
	}
	host, port, err := net.SplitHostPort(cfg.MasterAddr)
	if err != nil {
		return nil, fmt.Errorf("localstack: start sentinel: MasterAddr: %w", err)
	}
	path, err := RedisServerPath()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("localstack: start sentinel: %w", err)
	}
	conf := filepath.Join(cfg.Dir, "sentinel.conf")
	var b strings.Builder
	fmt.Fprintf(&b, "bind 127.0.0.1\nprotected-mode no\ndir %s\n", cfg.Dir)
	fmt.Fprintf(&b, "sentinel monitor %s %s %s %d\n", cfg.MasterName, host, port, cfg.Quorum)
	fmt.Fprintf(&b, "sentinel down-after-milliseconds %s %d\n", cfg.MasterName, cfg.DownAfter.Milliseconds())
	fmt.Fprintf(&b, "sentinel failover-timeout %s 10000\n", cfg.MasterName)
	fmt.Fprintf(&b, "sentinel parallel-syncs %s 1\n", cfg.MasterName)
	if cfg.MasterPassword != "" {
		fmt.Fprintf(&b, "sentinel auth-pass %s %s\n", cfg.MasterName, cfg.MasterPassword)
	}
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		return nil, fmt.Errorf("localstack: start sentinel: %w", err)
	}
	logPath := filepath.Join(cfg.Dir, "sentinel.log")
	proc, p, err := launch(ctx, launchSpec{
		name: "sentinel", port: cfg.Port, logPath: logPath,
		command: func(port int) (string, []string, []string) {
			return path, []string{conf, "--sentinel", "--port", strconv.Itoa(port), "--daemonize", "no",
				"--logfile", logPath}, os.Environ()
		},
		probe: func(ctx context.Context, addr string) error { return redisPing(ctx, addr, "") },
	})
	if err != nil {
		return nil, err
	}
	cfg.Port = p
	return &Sentinel{cfg: cfg, proc: proc}, nil
}

// Addr returns "127.0.0.1:PORT".
func (s *Sentinel) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.cfg.Port)) }

// LogPath returns the path of the sentinel's log file.
func (s *Sentinel) LogPath() string { return filepath.Join(s.cfg.Dir, "sentinel.log") }

// Stop stops the sentinel (SIGTERM, then SIGKILL after 5 s).
func (s *Sentinel) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc.Stop(stopGrace)
}

// SentinelURL returns the redis-sentinel:// URL of the master name behind sentinels, with
// password if not empty.
func SentinelURL(masterName, password string, sentinels ...*Sentinel) string {
	addrs := make([]string, len(sentinels))
	for i, s := range sentinels {
		addrs[i] = s.Addr()
	}
	u := url.URL{Scheme: "redis-sentinel", Host: strings.Join(addrs, ","), Path: "/" + masterName}
	if password != "" {
		u.User = url.UserPassword("", password)
	}
	return u.String()
}

// ClusterConfig configures StartRedisCluster.
type ClusterConfig struct {
	// Dir holds one directory per node. Required.
	Dir string
	// Masters is the number of master nodes; at least 3 (Redis Cluster's minimum).
	Masters int
	// AppendOnly turns on AOF persistence on every node.
	AppendOnly bool
}

// RedisCluster is a running Redis Cluster of masters without replicas, its slots spread
// evenly by `redis-cli --cluster create`.
type RedisCluster struct {
	Nodes []*Redis
}

// StartRedisCluster starts cfg.Masters redis-server nodes in cluster mode on free loopback
// ports, joins them into one cluster and waits until every node reports cluster_state:ok.
// On error it stops the nodes it started.
func StartRedisCluster(ctx context.Context, cfg ClusterConfig) (c *RedisCluster, err error) {
	if cfg.Dir == "" || cfg.Masters < 3 {
		return nil, errors.New("localstack: start redis cluster: ClusterConfig needs Dir and Masters ≥ 3")
	}
	cli, err := toolPath("redis-cli", "Debian's redis-tools, with redis-server")
	if err != nil {
		return nil, err
	}
	c = &RedisCluster{}
	defer func() {
		if err != nil {
			_ = c.Stop()
			c = nil
		}
	}()
	for n := range cfg.Masters {
		// The cluster bus needs a second port; pick it rather than risk port+10000.
		bus, err := FreePort()
		if err != nil {
			return c, err
		}
		r, err := StartRedis(ctx, RedisConfig{Dir: filepath.Join(cfg.Dir, "node-"+strconv.Itoa(n+1)), AppendOnly: cfg.AppendOnly,
			Args: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-node-timeout", "2000", "--cluster-port", strconv.Itoa(bus)}})
		if err != nil {
			return c, fmt.Errorf("localstack: start redis cluster node %d: %w", n+1, err)
		}
		c.Nodes = append(c.Nodes, r)
	}
	args := []string{"--cluster", "create"}
	for _, r := range c.Nodes {
		args = append(args, r.Addr())
	}
	args = append(args, "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		return c, fmt.Errorf("localstack: redis-cli --cluster create: %w: %s", err, lastLines(string(out), 10))
	}
	for _, r := range c.Nodes {
		if err := waitClusterOK(ctx, cli, r); err != nil {
			return c, err
		}
	}
	return c, nil
}

// waitClusterOK polls CLUSTER INFO on r until it says cluster_state:ok (30 s at most).
func waitClusterOK(ctx context.Context, cli string, r *Redis) error {
	deadline := time.Now().Add(readyTimeout)
	var last string
	for {
		out, err := exec.CommandContext(ctx, cli, "-h", "127.0.0.1", "-p", strconv.Itoa(r.Port()), "cluster", "info").CombinedOutput()
		last = string(out)
		if err == nil && strings.Contains(last, "cluster_state:ok") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("localstack: redis cluster node %s not ok after %s: %s", r.Addr(), readyTimeout, lastLines(last, 5))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// URL returns the comma list of the nodes' redis:// URLs that --redis-cluster takes.
func (c *RedisCluster) URL() string {
	urls := make([]string, len(c.Nodes))
	for i, r := range c.Nodes {
		urls[i] = r.URL()
	}
	return strings.Join(urls, ",")
}

// Stop stops every node.
func (c *RedisCluster) Stop() error {
	var errs []error
	for _, r := range c.Nodes {
		errs = append(errs, r.Stop())
	}
	return errors.Join(errs...)
}
