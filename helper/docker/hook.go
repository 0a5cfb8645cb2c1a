//go:build !opstesthook

package docker

import "time"

// hookAfterCreate is a test hook (build tag opstesthook); a no-op here.
func hookAfterCreate(string) {}

// hookSweepAge is a test hook (build tag opstesthook); d here.
func hookSweepAge(d time.Duration) time.Duration { return d }
