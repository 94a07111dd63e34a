package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// readyTimeout bounds a start when ctx has no earlier deadline.
	readyTimeout = 30 * time.Second
	// stopGrace is how long Redis.Stop and S3.Stop wait after SIGTERM before SIGKILL.
	stopGrace = 5 * time.Second
	// portAttempts is how often a start on a free port is tried.
	portAttempts = 5
)

// Process is a child process started by StartProcess: a server, a worker, anything that
// runs until it is stopped.
type Process struct {
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
func launch(ctx context.Context, s launchSpec) (*Process, int, error) {
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
		p, err := StartProcess(ProcessConfig{Name: s.name, Bin: path, Args: args, Env: env, LogPath: s.logPath})
		if err != nil {
			return nil, 0, err
		}
		err = p.waitReady(ctx, port, s.probe)
		if err == nil {
			return p, port, nil
		}
		_ = p.kill()
		lastErr = err
		if s.port != 0 || ctx.Err() != nil || !strings.Contains(strings.ToLower(p.LogTail()), "address already in use") {
			break
		}
	}
	return nil, 0, lastErr
}

// ProcessConfig configures StartProcess.
type ProcessConfig struct {
	// Name names the process in errors; it defaults to the base name of Bin.
	Name string
	// Bin is the program to run. Required.
	Bin  string
	Args []string
	// Env is the child's whole environment; nil means this process's. See IsolatedEnv.
	Env []string
	// LogPath receives the child's stdout and stderr, appended. Required.
	LogPath string
}

// StartProcess starts a child process that runs until Stop, in a process group of its own
// (so a Ctrl-C on the terminal reaches only the parent, which can then stop its children in
// order) and, on Linux, killed when the parent dies. It does not wait for anything.
func StartProcess(cfg ProcessConfig) (*Process, error) {
	if cfg.Name == "" {
		cfg.Name = filepath.Base(cfg.Bin)
	}
	if cfg.Bin == "" || cfg.LogPath == "" {
		return nil, fmt.Errorf("localstack: start %s: ProcessConfig.Bin or LogPath is empty", cfg.Name)
	}
	logf, err := os.OpenFile(cfg.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("localstack: start %s: %w", cfg.Name, err)
	}
	defer logf.Close() // the child keeps its own copy
	off, err := logf.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("localstack: start %s: %w", cfg.Name, err)
	}

	cmd := exec.Command(cfg.Bin, cfg.Args...)
	cmd.Env = cfg.Env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("localstack: start %s: %w", cfg.Name, err)
	}
	p := &Process{name: cfg.Name, cmd: cmd, logPath: cfg.LogPath, logOff: off, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Name returns the process's name from its ProcessConfig.
func (p *Process) Name() string { return p.name }

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// LogPath returns the path of the file that receives the process's output.
func (p *Process) LogPath() string { return p.logPath }

// Exited reports whether the process has exited, on its own or stopped.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits until the process has exited and returns what exec.Cmd.Wait returned: nil
// for exit status 0.
func (p *Process) Wait() error {
	<-p.done
	return p.waitErr
}

// StopAll stops the processes in parallel, each with Stop(grace), and returns Stop's error
// for each: non-nil when that process had exited on its own. Nil processes are skipped.
func StopAll(grace time.Duration, procs ...*Process) []error {
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		if p != nil {
			wg.Go(func() { errs[i] = p.Stop(grace) })
		}
	}
	wg.Wait()
	return errs
}

// waitReady polls probe until it succeeds on a socket owned by p, p exits,
// or the deadline passes.
func (p *Process) waitReady(ctx context.Context, port int, probe func(context.Context, string) error) error {
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

// Stop sends SIGTERM to the process group, waits up to grace and then sends
// SIGKILL; it returns once the process has exited. It is idempotent and safe
// to call concurrently. The first call reports an error if the process had
// exited on its own before it.
func (p *Process) Stop(grace time.Duration) error {
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
func (p *Process) kill() error {
	p.markSignaled()
	p.signal(syscall.SIGKILL)
	<-p.done
	return nil
}

func (p *Process) markSignaled() (first bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	first = !p.signaled
	p.signaled = true
	return first
}

// signal signals the child's process group; an exited group is not an error.
func (p *Process) signal(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// LogTail returns the last lines (at most 20) this process wrote to its log.
func (p *Process) LogTail() string {
	const maxBytes = 16 << 10 // 20 lines of a worker's text log can take more than 4 KiB
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
	if off > p.logOff {
		// The read began inside a line; drop that partial line.
		if i := strings.IndexByte(string(b), '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return lastLines(string(b), 20)
}

func (p *Process) tailSuffix() string {
	tail := p.LogTail()
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

// IsolatedEnv returns this process's environment without PARTFLOW_* and AWS_*
// variables, so that nothing inherited points a partflow child at another
// server, plus extra.
func IsolatedEnv(extra ...string) []string {
	return childEnv([]string{"PARTFLOW_", "AWS_"}, extra...)
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
