package main

import (
	"context"
	"os"
	"testing"
)

// TestMain lets the test binary be the detached `ops log __push` a recorded
// run starts (os.Executable is the test binary).
func TestMain(m *testing.M) {
	if len(os.Args) >= 3 && os.Args[1] == "log" && os.Args[2] == "__push" {
		os.Exit(run(context.Background(), os.Args, streams{in: os.Stdin, out: os.Stdout, err: os.Stderr}))
	}
	os.Exit(m.Run())
}
