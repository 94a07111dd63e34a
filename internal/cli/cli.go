// Package cli holds what partflow's commands share: flags with strict environment fallbacks,
// --version and the log setup. Only cmd/* imports it; libraries take typed Config structs.
package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"
)

// Env returns the environment variable name, or def when it is unset. For flags, use
// Flags.StringEnv and its siblings, which parse the variable as strictly as the flag.
func Env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// NewLogger returns a slog logger writing to w in format "text" or "json" ("" means json
// unless w is a terminal) at level, tagged with the service name.
func NewLogger(w io.Writer, service, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad log level %q: %w", level, err)
	}
	if format == "" {
		format = "json"
		if IsTerminal(w) {
			format = "text"
		}
	}
	var out io.Writer = w
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(out, opts)).With("service", service), nil
	case "text":
		return slog.New(slog.NewTextHandler(out, opts)).With("service", service), nil
	}
	return nil, fmt.Errorf("bad log format %q: want text or json", format)
}

// ParseWeights parses queue weights written as "high=6,default=3,low=1".
func ParseWeights(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, item := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(item), "=")
		n, err := strconv.Atoi(w)
		if !ok || name == "" || err != nil || n <= 0 {
			return nil, fmt.Errorf("bad queue weight %q: want name=positive-number", item)
		}
		out[name] = n
	}
	return out, nil
}

// ParseLocations parses "bucket[/prefix]" items.
func ParseLocations(items ...string) [][2]string {
	var out [][2]string
	for _, item := range items {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		bucket, prefix, _ := strings.Cut(item, "/")
		out = append(out, [2]string{bucket, prefix})
	}
	return out
}
