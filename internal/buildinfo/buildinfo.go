// Package buildinfo says which build of partflow is running: the module version, the VCS
// revision and the build date. `make build` and `make image` set them with -ldflags
// (-X github.com/partflow/partflow/internal/buildinfo.version=…, revision=…, date=…);
// otherwise they come from what the Go toolchain stamps into the binary
// (debug.ReadBuildInfo: the module version and vcs.revision / vcs.time / vcs.modified).
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by -ldflags -X; empty means "read it from the build info".
var (
	version  string
	revision string
	date     string
)

// Info describes the running binary.
type Info struct {
	Version   string // module version, e.g. v1.2.3 or v0.0.0-20261203190650-3eb0301a1b2c+dirty; "(devel)" when unknown
	Revision  string // VCS revision (full commit hash), with "-dirty" if the tree had changes; "unknown" when unknown
	Date      string // build date (RFC 3339); the commit time when only the toolchain's stamp is known; "unknown" when unknown
	GoVersion string // the Go toolchain, e.g. go1.26.8
}

// Read returns the running binary's Info.
func Read() Info {
	info := Info{Version: version, Revision: revision, Date: date, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" {
			info.Version = bi.Main.Version
		}
		var rev, at string
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if info.Revision == "" && rev != "" {
			info.Revision = rev
			if modified {
				info.Revision += "-dirty"
			}
		}
		if info.Date == "" {
			info.Date = at
		}
	}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	if info.Revision == "" {
		info.Revision = "unknown"
	}
	if info.Date == "" {
		info.Date = "unknown"
	}
	return info
}

// String is the line --version prints after the program's name.
func (i Info) String() string {
	return fmt.Sprintf("%s (revision %s, built %s, %s)", i.Version, i.Revision, i.Date, i.GoVersion)
}
