package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/dustin/go-humanize"

	"github.com/partflow/partflow/internal/buildinfo"
)

// Flags is a flag set whose flags may fall back to an environment variable. A variable is
// read only for a flag not given on the command line, and it is parsed exactly as the flag
// would be: a bad value (PARTFLOW_MONITOR_READ_ONLY=yes, PARTFLOW_SHUTDOWN_TIMEOUT=60) is an
// error naming the variable, never a silent default. The help text of each such flag ends
// with the variable's name in parentheses.
type Flags struct {
	*flag.FlagSet
	env     []envFlag
	version *bool
	program string
	stdout  io.Writer
}

// errVersion ends Parse after --version printed the version.
var errVersion = errors.New("version printed")

type envFlag struct{ flag, variable, want string }

// NewFlags returns a flag set that reports errors (and --help) to output.
func NewFlags(name string, output io.Writer) *Flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(output)
	return &Flags{FlagSet: fs}
}

// Env makes variable the fallback of the flag name, already defined; want says in words what
// a good value looks like. Prefer the typed helpers below, which call it.
func (f *Flags) Env(name, variable, want string) {
	if f.Lookup(name) == nil {
		panic("cli: Env for undefined flag --" + name)
	}
	f.env = append(f.env, envFlag{flag: name, variable: variable, want: want})
}

// StringEnv defines a string flag with an environment fallback.
func (f *Flags) StringEnv(name, variable, def, usage string) *string {
	p := f.String(name, def, withVar(usage, variable))
	f.Env(name, variable, "a string")
	return p
}

// BoolEnv defines a bool flag with an environment fallback (true/false, 1/0, t/f).
func (f *Flags) BoolEnv(name, variable string, def bool, usage string) *bool {
	p := f.Bool(name, def, withVar(usage, variable))
	f.Env(name, variable, "true or false")
	return p
}

// IntEnv defines an int flag with an environment fallback.
func (f *Flags) IntEnv(name, variable string, def int, usage string) *int {
	p := f.Int(name, def, withVar(usage, variable))
	f.Env(name, variable, "a whole number")
	return p
}

// DurationEnv defines a duration flag with an environment fallback; a bare number such as
// 60 is refused (is it seconds?): write 60s.
func (f *Flags) DurationEnv(name, variable string, def time.Duration, usage string) *time.Duration {
	p := f.Duration(name, def, withVar(usage, variable))
	f.Env(name, variable, "a duration with a unit, such as 30s, 5m or 1h30m")
	return p
}

// SizeEnv defines a byte-size flag (16MiB, 100MB, 0) with an environment fallback.
func (f *Flags) SizeEnv(name, variable string, def int64, usage string) *int64 {
	p := f.Size(name, def, withVar(usage, variable))
	f.Env(name, variable, "a size such as 16MiB, 100MB or 0")
	return p
}

// ListEnv defines a list flag with an environment fallback: items are separated by commas
// or spaces, and the flag may be repeated.
func (f *Flags) ListEnv(name, variable, usage string) *[]string {
	p := f.List(name, withVar(usage, variable))
	f.Env(name, variable, "a comma-separated list")
	return p
}

// ChoiceEnv defines a string flag that takes one of choices, with an environment fallback.
func (f *Flags) ChoiceEnv(name, variable, def string, choices []string, usage string) *string {
	v := &choiceValue{value: def, choices: choices, empty: def == ""}
	f.Var(v, name, withVar(usage, variable))
	f.Env(name, variable, "one of "+strings.Join(choices, ", "))
	return &v.value
}

// Size defines a byte-size flag without environment fallback.
func (f *Flags) Size(name string, def int64, usage string) *int64 {
	v := sizeValue(def)
	f.Var(&v, name, usage)
	return (*int64)(&v)
}

// List defines a list flag without environment fallback.
func (f *Flags) List(name, usage string) *[]string {
	v := &listValue{}
	f.Var(v, name, usage)
	return &v.items
}

// Version defines --version, which prints program's build (module version, VCS revision,
// build date) to stdout and makes Parse return an error that ExitCode maps to 0.
func (f *Flags) Version(program string, stdout io.Writer) {
	f.version = f.Bool("version", false, "print the version, VCS revision and build date, and exit")
	f.program, f.stdout = program, stdout
}

// Parse parses args, then sets every flag that args did not set from its environment
// variable, if that is set (also to ""). It reports a bad flag or variable on the output
// and returns the error; flag.ErrHelp after --help.
func (f *Flags) Parse(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		return err
	}
	if f.version != nil && *f.version {
		fmt.Fprintf(f.stdout, "%s %s\n", f.program, buildinfo.Read())
		return errVersion
	}
	given := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	for _, e := range f.env {
		v, ok := os.LookupEnv(e.variable)
		if !ok || given[e.flag] {
			continue
		}
		if err := f.Set(e.flag, v); err != nil {
			err = fmt.Errorf("%s=%q is not valid for --%s: want %s", e.variable, v, e.flag, e.want)
			fmt.Fprintf(f.Output(), "%s: %v\n", f.Name(), err)
			return err
		}
	}
	return nil
}

// Variables returns the environment variables of the flags, in the order they were defined.
func (f *Flags) Variables() []string {
	out := make([]string, len(f.env))
	for i, e := range f.env {
		out[i] = e.variable
	}
	return out
}

func withVar(usage, variable string) string { return usage + " (" + variable + ")" }

// sizeValue is a byte count written as 16MiB, 100MB, 1.5GiB or a plain number of bytes.
type sizeValue int64

func (s *sizeValue) Set(v string) error {
	n, err := humanize.ParseBytes(strings.TrimSpace(v))
	if err != nil {
		return errors.New("want a size such as 16MiB")
	}
	if n > 1<<62 {
		return errors.New("size out of range")
	}
	*s = sizeValue(n)
	return nil
}

func (s *sizeValue) String() string {
	if s == nil || *s == 0 {
		return "0"
	}
	return strings.ReplaceAll(humanize.IBytes(uint64(*s)), " ", "")
}

// choiceValue is one of a fixed set of strings.
type choiceValue struct {
	value   string
	choices []string
	empty   bool // "" (the default) is allowed too
}

func (c *choiceValue) Set(v string) error {
	if !slices.Contains(c.choices, v) && (v != "" || !c.empty) {
		return fmt.Errorf("want one of %s", strings.Join(c.choices, ", "))
	}
	c.value = v
	return nil
}

func (c *choiceValue) String() string {
	if c == nil {
		return ""
	}
	return c.value
}

// listValue collects comma- or space-separated items; the first Set replaces what an
// earlier source (the environment) gave, later ones append.
type listValue struct {
	items []string
	set   bool
}

func (l *listValue) Set(v string) error {
	if !l.set {
		l.items, l.set = nil, true
	}
	l.items = append(l.items, SplitList(v)...)
	return nil
}

func (l *listValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.items, ",")
}

// SplitList splits a list written with commas and/or white space, dropping empty items.
func SplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// ExitCode maps the error of Parse to an exit code: 0 after --help and --version, 2 otherwise.
func ExitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, errVersion) {
		return 0
	}
	return 2
}
