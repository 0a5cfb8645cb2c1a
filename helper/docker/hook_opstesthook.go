//go:build opstesthook

package docker

import (
	"os"
	"syscall"
	"time"
)

// hookAfterCreate kills this process (SIGKILL: no deferred clean-up runs)
// at the point OPS_TEST_KILL_AFTER_CREATE names: "create", right after
// the container is created, or "copy", once the --copy files are in it.
// For end-to-end tests of the sweep only: built with -tags opstesthook.
func hookAfterCreate(point string) {
	if v := os.Getenv("OPS_TEST_KILL_AFTER_CREATE"); v == point || (v != "" && v != "copy" && point == "create") {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Hour)
	}
}

// hookSweepAge is OPS_TEST_SWEEP_AGE (a duration) when set, so that a test
// need not wait a minute for the sweep.
func hookSweepAge(d time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv("OPS_TEST_SWEEP_AGE")); err == nil {
		return v
	}
	return d
}
