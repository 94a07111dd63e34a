// Package filter decides which files or objects of a listing a migration keeps: rclone-style
// --include/--exclude globs, --min-size/--max-size, --newer-than/--older-than and
// --files-from.
//
// # Semantics (rclone's, so that a user's rclone filters carry over)
//
// A path is slash-separated and relative to the listing's root (the directory, the manifest's
// keys, the S3 prefix). Patterns:
//
//   - any sequence of characters except /
//     **        any sequence of characters, / included
//     ?         one character except /
//     [a-z]     a character class ([!a-z] negates it)
//     {a,b}     alternatives
//     {{re}}    a regular expression (RE2)
//     \c        the character c itself (\d \s \w and their negations: Perl classes)
//     [[:alpha:]] a POSIX class inside a character class
//
// A pattern that starts with / matches from the root; any other pattern matches the end of
// the path at a path-element boundary ("file.jpg" matches "dir/file.jpg", not
// "dir/afile.jpg"). Rules are tried in order — every --include, then every --exclude, as
// rclone does whatever their order on the command line — and the first match decides. If any
// --include is given, everything no rule matched is excluded; otherwise it is kept. An
// --exclude ending in / names a directory: it is the rule dir/** in its place (so an earlier
// --include still keeps what it matches below it). Size and age filters apply to what the path rules keep; --files-from keeps exactly
// the paths it lists and cannot be combined with --include/--exclude.
package filter

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is what the flags say. Zero values filter nothing.
type Config struct {
	Include []string
	Exclude []string
	// MinSize and MaxSize are inclusive bounds in bytes; 0 means no bound.
	MinSize, MaxSize int64
	// NewerThan keeps only files modified at or after it; OlderThan only those modified at
	// or before it. Zero times mean no bound (see ParseTime for what flags accept).
	NewerThan, OlderThan time.Time
	// FilesFrom lists the only paths to keep (see ReadFilesFrom); nil means no list.
	FilesFrom []string
}

// Entry is one file or object of a listing.
type Entry struct {
	Path    string    // relative to the listing's root, slash-separated
	Size    int64     // bytes; -1 when unknown (size filters then refuse the entry's listing)
	ModTime time.Time // zero when unknown
}

// Filter is a compiled Config; the zero Filter keeps everything.
type Filter struct {
	rules      []rule
	anyInclude bool
	files      map[string]bool
	cfg        Config
}

type rule struct {
	include bool
	re      *regexp.Regexp
}

// ErrInvalid marks a filter that cannot be built from its Config.
var ErrInvalid = errors.New("invalid filter")

// New compiles cfg.
func New(cfg Config) (*Filter, error) {
	f := &Filter{cfg: cfg}
	switch {
	case cfg.MinSize < 0 || cfg.MaxSize < 0:
		return nil, fmt.Errorf("filter: %w: sizes must not be negative", ErrInvalid)
	case cfg.MaxSize > 0 && cfg.MinSize > cfg.MaxSize:
		return nil, fmt.Errorf("filter: %w: --min-size %d is larger than --max-size %d", ErrInvalid, cfg.MinSize, cfg.MaxSize)
	case !cfg.NewerThan.IsZero() && !cfg.OlderThan.IsZero() && cfg.NewerThan.After(cfg.OlderThan):
		return nil, fmt.Errorf("filter: %w: --newer-than and --older-than leave no time between them", ErrInvalid)
	case cfg.FilesFrom != nil && (len(cfg.Include) > 0 || len(cfg.Exclude) > 0):
		return nil, fmt.Errorf("filter: %w: --files-from cannot be combined with --include or --exclude", ErrInvalid)
	}
	if cfg.FilesFrom != nil {
		f.files = make(map[string]bool, len(cfg.FilesFrom))
		for _, p := range cfg.FilesFrom {
			f.files[strings.TrimLeft(p, "/")] = true
		}
	}
	for _, p := range cfg.Include {
		if strings.HasSuffix(p, "/") {
			return nil, fmt.Errorf("filter: %w: --include %q names a directory, which matches no file: use %q",
				ErrInvalid, p, p+"**")
		}
		re, err := compile(p)
		if err != nil {
			return nil, fmt.Errorf("filter: %w: --include %q: %w", ErrInvalid, p, err)
		}
		f.rules = append(f.rules, rule{include: true, re: re})
		f.anyInclude = true
	}
	for _, p := range cfg.Exclude {
		glob := p
		if dir, ok := strings.CutSuffix(p, "/"); ok && dir != "" {
			glob = dir + "/**" // a directory: everything below it, in this rule's place
		}
		re, err := compile(glob)
		if err != nil {
			return nil, fmt.Errorf("filter: %w: --exclude %q: %w", ErrInvalid, p, err)
		}
		f.rules = append(f.rules, rule{re: re})
	}
	return f, nil
}

// Config returns the configuration the filter was built from (what a feeder in the fleet
// builds it again from).
func (f *Filter) Config() Config { return f.cfg }

// Active reports whether the filter can drop anything.
func (f *Filter) Active() bool {
	c := f.cfg
	return len(c.Include)+len(c.Exclude) > 0 || c.MinSize > 0 || c.MaxSize > 0 || !c.NewerThan.IsZero() ||
		!c.OlderThan.IsZero() || c.FilesFrom != nil
}

// NeedsInfo reports whether Keep needs an entry's size or modification time.
func (f *Filter) NeedsInfo() bool {
	c := f.cfg
	return c.MinSize > 0 || c.MaxSize > 0 || !c.NewerThan.IsZero() || !c.OlderThan.IsZero()
}

// Keep reports whether e passes the filter, and if not, which filter dropped it (for
// --dry-run).
func (f *Filter) Keep(e Entry) (bool, string) {
	p := strings.TrimLeft(e.Path, "/")
	if f.files != nil {
		if !f.files[p] {
			return false, "not in --files-from"
		}
	} else if ok, why := f.keepPath(p); !ok {
		return false, why
	}
	c := f.cfg
	if c.MinSize > 0 && e.Size < c.MinSize {
		return false, "smaller than --min-size"
	}
	if c.MaxSize > 0 && e.Size > c.MaxSize {
		return false, "larger than --max-size"
	}
	if !c.NewerThan.IsZero() && e.ModTime.Before(c.NewerThan) {
		return false, "older than --newer-than allows"
	}
	if !c.OlderThan.IsZero() && e.ModTime.After(c.OlderThan) {
		return false, "newer than --older-than allows"
	}
	return true, ""
}

func (f *Filter) keepPath(p string) (bool, string) {
	for _, r := range f.rules {
		if r.re.MatchString(p) {
			if r.include {
				return true, ""
			}
			return false, "matches an --exclude"
		}
	}
	if f.anyInclude {
		return false, "matches no --include"
	}
	return true, ""
}

// compile turns a glob into an anchored regular expression.
func compile(glob string) (*regexp.Regexp, error) {
	if glob == "" {
		return nil, errors.New("empty pattern")
	}
	var b strings.Builder
	if rest, ok := strings.CutPrefix(glob, "/"); ok {
		b.WriteString("^")
		glob = rest
	} else {
		b.WriteString("(^|/)")
	}
	if err := translate(&b, glob, false); err != nil {
		return nil, err
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// translate writes glob as regular-expression syntax; inAlt is true inside {a,b}, where a
// comma separates alternatives.
func translate(b *strings.Builder, glob string, inAlt bool) error {
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch {
		case strings.HasPrefix(glob[i:], "{{"):
			end := strings.Index(glob[i+2:], "}}")
			if end < 0 {
				return errors.New("{{ without }}")
			}
			b.WriteString("(" + glob[i+2:i+2+end] + ")")
			i += 3 + end
		case strings.HasPrefix(glob[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '\\':
			if i+1 >= len(glob) {
				return errors.New("trailing \\")
			}
			i++
			if strings.IndexByte("dDsSwW", glob[i]) >= 0 {
				b.WriteString(`\` + glob[i:i+1]) // a Perl class, as rclone reads it
			} else {
				b.WriteString(regexp.QuoteMeta(glob[i : i+1]))
			}
		case c == '[':
			end := classEnd(glob, i)
			if end < 0 {
				return errors.New("[ without ]")
			}
			class := glob[i+1 : end]
			if neg, ok := strings.CutPrefix(class, "!"); ok {
				class = "^" + neg
			}
			if class == "" || class == "^" {
				return errors.New("empty character class")
			}
			b.WriteString("[" + class + "]")
			i = end
		case c == '{':
			end := altEnd(glob, i)
			if end < 0 {
				return errors.New("{ without }")
			}
			b.WriteString("(")
			if err := translate(b, glob[i+1:end], true); err != nil {
				return err
			}
			b.WriteString(")")
			i = end
		case c == ',' && inAlt:
			b.WriteString("|")
		default:
			b.WriteString(regexp.QuoteMeta(glob[i : i+1]))
		}
	}
	return nil
}

// classEnd returns the index of the ] that closes the class opened at glob[open], or -1.
func classEnd(glob string, open int) int {
	for j := open + 1; j < len(glob); j++ {
		switch glob[j] {
		case '\\':
			j++
		case '[':
			if end := strings.Index(glob[j:], ":]"); strings.HasPrefix(glob[j:], "[:") && end > 0 {
				j += end + 1 // a POSIX class such as [:alpha:]
			}
		case ']':
			if j > open+1 && !(j == open+2 && glob[open+1] == '!') {
				return j
			}
		}
	}
	return -1
}

// altEnd returns the index of the } that closes the { at glob[open], or -1.
func altEnd(glob string, open int) int {
	depth := 0
	for j := open; j < len(glob); j++ {
		switch glob[j] {
		case '\\':
			j++
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return j
			}
		}
	}
	return -1
}

// ReadFilesFrom reads a --files-from list: one path per line, surrounding white space
// stripped, blank lines and lines starting with # or ; ignored.
func ReadFilesFrom(r io.Reader) ([]string, error) {
	files := []string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		files = append(files, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("filter: read --files-from: %w", err)
	}
	return files, nil
}

// ParseTime reads a --newer-than/--older-than value relative to now: an age (a Go duration,
// or a number with one of the suffixes d, w, M (30 days) or y (365 days), e.g. "7d", "36h"),
// a date (2006-01-02) or an RFC 3339 time. An age means "now minus the age".
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.UTC); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	units := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour, 'M': 30 * 24 * time.Hour, 'y': 365 * 24 * time.Hour}
	if len(s) >= 2 {
		if unit, ok := units[s[len(s)-1]]; ok {
			if n, err := strconv.ParseFloat(s[:len(s)-1], 64); err == nil && n >= 0 {
				return now.Add(-time.Duration(n * float64(unit))), nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("filter: %w: %q is neither an age (7d, 36h, 2w) nor a date (2006-01-02) nor an RFC 3339 time",
		ErrInvalid, s)
}
