package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// ChromiumEnv names an environment variable that points tests at a Chromium (or Chrome)
// binary, skipping the lookup and the install.
const ChromiumEnv = "PARTFLOW_CHROMIUM"

// chromiumNames are the binaries Chromium tests look for on PATH, in order.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// chromiumInstallTimeout bounds apt-get; the package and its libraries are a few hundred MB.
const chromiumInstallTimeout = 15 * time.Minute

var chromium struct {
	once sync.Once
	path string
	skip string // why browser tests cannot run here, when they cannot
	err  error
}

// Chromium returns the path of a headless-capable Chromium for browser tests. When none is on
// PATH (and $PARTFLOW_CHROMIUM is unset) it installs Debian's `chromium` package with apt-get,
// which takes minutes and needs root; without root the test is skipped with the reason. The
// lookup and the install run once per test binary.
func Chromium(t testing.TB) string {
	t.Helper()
	chromium.once.Do(func() {
		chromium.path, chromium.skip, chromium.err = findOrInstallChromium(t)
	})
	if chromium.skip != "" {
		t.Skipf("testenv: %s", chromium.skip)
	}
	if chromium.err != nil {
		t.Fatalf("testenv: %v", chromium.err)
	}
	return chromium.path
}

func findOrInstallChromium(t testing.TB) (path, skip string, err error) {
	if p := os.Getenv(ChromiumEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", "", fmt.Errorf("chromium: %s=%s: %w", ChromiumEnv, p, err)
		}
		return p, "", nil
	}
	if p, ok := lookChromium(); ok {
		return p, "", nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Sprintf("none of %v is on PATH and only root may install Debian's chromium package; "+
			"install it, or set %s", chromiumNames, ChromiumEnv), nil
	}
	t.Logf("testenv: chromium is missing: installing Debian's chromium package with apt-get (this takes minutes)")
	ctx, cancel := context.WithTimeout(context.Background(), chromiumInstallTimeout)
	defer cancel()
	start := time.Now()
	// Wait for a dpkg lock held by another apt run instead of failing at once.
	lock := "-oDPkg::Lock::Timeout=300"
	if err := runApt(ctx, "apt-get", lock, "update", "-qq"); err != nil {
		return "", "", err
	}
	if err := runApt(ctx, "apt-get", lock, "install", "-y", "-qq", "--no-install-recommends", "chromium"); err != nil {
		return "", "", err
	}
	p, ok := lookChromium()
	if !ok {
		return "", "", fmt.Errorf("chromium: apt-get installed the chromium package but none of %v is on PATH", chromiumNames)
	}
	t.Logf("testenv: installed %s in %s", p, time.Since(start).Round(time.Second))
	return p, "", nil
}

func lookChromium() (string, bool) {
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

func runApt(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tail := string(out)
		if len(tail) > 2000 {
			tail = "…" + tail[len(tail)-2000:]
		}
		return fmt.Errorf("chromium: %s %s: %w\n%s", name, strings.Join(args, " "), err, tail)
	}
	return nil
}

// ChromiumFlags are the command-line flags browser tests start Chromium with: headless, no
// sandbox (tests run as root), no GPU, and nothing that reaches out to the network by itself.
// Host names other than localhost fail at once, so pages that link web fonts or other
// external resources render without waiting for a DNS timeout.
func ChromiumFlags(userDataDir string) []string {
	return []string{
		"--headless",
		"--no-sandbox",
		"--disable-gpu",
		"--disable-quic",
		"--no-first-run",
		"--no-default-browser-check",
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
		"--disable-dev-shm-usage",
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]",
		"--user-data-dir=" + userDataDir,
	}
}
