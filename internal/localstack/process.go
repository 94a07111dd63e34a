package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// readyTimeout bounds a start when ctx has no earlier deadline.
	readyTimeout = 30 * time.Second
	// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
	stopGrace = 5 * time.Second
	// portAttempts is how often a start on a free port is tried.
	portAttempts = 5
)

// process is one running server child.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logOff  int64 // size of the log before this process started

	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done is closed

	mu       sync.Mutex
	signaled bool // Stop or Kill was called
}

// launchSpec describes how to start one kind of server.
type launchSpec struct {
	name    string
	port    int // 0 = free port
	logPath string
	// command returns the binary, its arguments and extra environment for port.
	command func(port int) (path string, args, env []string)
	// probe returns nil once the server answers its protocol at addr.
	probe func(ctx context.Context, addr string) error
}

// launch starts the server and waits until it is ready. With port 0 it picks
// free ports and retries when the bind loses a race.
func launch(ctx context.Context, s launchSpec) (*process, int, error) {
	attempts := 1
	if s.port == 0 {
		attempts = portAttempts
	}
	var lastErr error
	for range attempts {
		port := s.port
		if port == 0 {
			p, err := FreePort()
			if err != nil {
				return nil, 0, err
			}
			port = p
		}
		path, args, env := s.command(port)
		p, err := startProcess(s.name, path, args, env, s.logPath)
		if err != nil {
			return nil, 0, err
		}
		err = p.waitReady(ctx, port, s.probe)
		if err == nil {
			return p, port, nil
		}
		_ = p.kill()
		lastErr = err
		if s.port != 0 || ctx.Err() != nil || !strings.Contains(strings.ToLower(p.logTail()), "address already in use") {
			break
		}
	}
	return nil, 0, lastErr
}

func startProcess(name, path string, args, env []string, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("localstack: start %s: %w", name, err)
	}
	defer logf.Close() // the child keeps its own copy
	off, err := logf.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("localstack: start %s: %w", name, err)
	}

	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("localstack: start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, logOff: off, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitReady polls probe until it succeeds on a socket owned by p, p exits,
// or the deadline passes.
func (p *process) waitReady(ctx context.Context, port int, probe func(context.Context, string) error) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	start := time.Now()
	wait := 10 * time.Millisecond
	var lastErr error
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		lastErr = probe(pctx, addr)
		pcancel()
		if lastErr == nil {
			if !listensOn(p.cmd.Process.Pid, port) {
				lastErr = fmt.Errorf("%s is answered by another process", addr)
			} else {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("localstack: start %s on %s: exited before it was ready (%v)%s",
				p.name, addr, p.waitErr, p.tailSuffix())
		case <-ctx.Done():
			return fmt.Errorf("localstack: start %s on %s: not ready after %s: %w (last probe: %v)%s",
				p.name, addr, time.Since(start).Round(time.Millisecond), ctx.Err(), lastErr, p.tailSuffix())
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// stop sends SIGTERM, waits up to grace and then sends SIGKILL. It is
// idempotent. It reports an error if the process had exited on its own.
func (p *process) stop(grace time.Duration) error {
	if first := p.markSignaled(); first {
		select {
		case <-p.done:
			return fmt.Errorf("localstack: %s exited before it was stopped (%v)%s", p.name, p.waitErr, p.tailSuffix())
		default:
		}
	}
	p.signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
	}
	p.signal(syscall.SIGKILL)
	<-p.done
	return nil
}

// kill sends SIGKILL and waits for the process to exit.
func (p *process) kill() error {
	p.markSignaled()
	p.signal(syscall.SIGKILL)
	<-p.done
	return nil
}

func (p *process) markSignaled() (first bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	first = !p.signaled
	p.signaled = true
	return first
}

// signal signals the child's process group; an exited group is not an error.
func (p *process) signal(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// logTail returns the last lines this process wrote to its log.
func (p *process) logTail() string {
	const maxBytes = 4 << 10
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(p.logOff, fi.Size()-maxBytes)
	b, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

func (p *process) tailSuffix() string {
	tail := p.logTail()
	if tail == "" {
		return " (log " + p.logPath + " is empty)"
	}
	return "\n--- tail of " + p.logPath + " ---\n" + tail
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("localstack: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// childEnv returns the parent's environment without variables whose name
// starts with one of the prefixes, plus extra.
func childEnv(dropPrefixes []string, extra ...string) []string {
	var env []string
outer:
	for _, kv := range os.Environ() {
		for _, p := range dropPrefixes {
			if strings.HasPrefix(kv, p) {
				continue outer
			}
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}
