// Package buildinfo says which version and source revision a binary was
// built from (the module version, or the VCS revision Go stamped).
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the module version and VCS revision the binary was built from:
// "v1.2.3" from a tag, "(devel) (0123456789ab-dirty, TIME)" from a checkout.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, dirty, when string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		case "vcs.time":
			when = s.Value
		}
	}
	if rev == "" {
		return v
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return fmt.Sprintf("%s (%s%s, %s)", v, rev, dirty, when)
}

// Runtime is the Go version and platform.
func Runtime() string { return runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH }
