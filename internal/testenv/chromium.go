package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// ChromiumEnv names an environment variable that points tests at a Chromium (or Chrome)
// binary, skipping the lookup and the install.
const ChromiumEnv = "PARTFLOW_CHROMIUM"

// chromiumNames are the binaries Chromium tests look for on PATH, in order.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

var chromium struct {
	once sync.Once
	path string
	err  error
}

// Chromium returns the path of a headless-capable Chromium for browser tests: $PARTFLOW_CHROMIUM,
// or the first of chromiumNames on PATH. `make tools` installs Debian's chromium package; when
// none is found the test fails naming it, as for every other tool.
func Chromium(t testing.TB) string {
	t.Helper()
	chromium.once.Do(func() {
		chromium.path, chromium.err = findChromium()
	})
	if chromium.err != nil {
		t.Fatalf("testenv: %v", chromium.err)
	}
	return chromium.path
}

func findChromium() (string, error) {
	if p := os.Getenv(ChromiumEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("chromium: %s=%s: %w", ChromiumEnv, p, err)
		}
		return p, nil
	}
	if p, ok := lookChromium(); ok {
		return p, nil
	}
	return "", fmt.Errorf("chromium: none of %v is on PATH: run `make tools` (installs Debian's chromium), or set %s",
		chromiumNames, ChromiumEnv)
}

func lookChromium() (string, bool) {
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
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
