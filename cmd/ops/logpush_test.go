package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ops-team/ops/cmd/internal/opsconfig"
	"github.com/ops-team/ops/helper/runlog"
)

// bareRepo is a bare repository to push the log to; with a pre-receive
// hook that sleeps when slow is set.
func bareRepo(t *testing.T, slow time.Duration) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git:", err)
	}
	bare := filepath.Join(t.TempDir(), "remote.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", bare).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if slow > 0 {
		hook := fmt.Sprintf("#!/bin/sh\nsleep %g\n", slow.Seconds())
		if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bare
}

// pushDeps are deps recording to logDir (branch p) and pushing to remote,
// with this test binary as the pusher.
func pushDeps(t *testing.T, logDir, remote string) (*deps, *bytes.Buffer) {
	t.Helper()
	getenv := func(k string) string {
		switch k {
		case "OPS_LOG_DIR":
			return logDir
		case "OPS_LOG_REMOTE":
			return remote
		case "OPS_LOG_PROJECT":
			return "p"
		}
		return ""
	}
	cfg, err := opsconfig.Load(opsconfig.Options{Dir: t.TempDir(), Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	d := &deps{streams: streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &errb}, getenv: getenv, cfg: cfg, secret: func(string) {}, self: self}
	return d, &errb
}

// waitPusher waits (bounded) until no pusher holds the push lock.
func waitPusher(t *testing.T, d *deps) {
	t.Helper()
	waitPushed(t, d.logRepo(context.Background()).Dir, "p")
}

// waitPushed waits (bounded) until no pusher holds branch's push lock in
// the log clone dir.
func waitPushed(t *testing.T, dir, branch string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*pushBound)
	defer cancel()
	lock, err := waitPushLock(ctx, &runlog.Repo{Dir: dir, Branch: runlog.BranchName(branch)})
	if err != nil {
		t.Fatal(err)
	}
	unlockPush(lock)
}

func recordOne(t *testing.T, d *deps, word string) {
	t.Helper()
	argv := []string{"ops", "remote", "echo", word}
	if err := d.recorded(context.Background(), argv, func() error { _, err := fmt.Fprintln(d.out, word); return err }); err != nil {
		t.Fatal(err)
	}
}

// A run ends once its entry is committed: a slow remote (2 s to receive)
// does not hold it, and the entry reaches the remote afterwards.
func TestRunDoesNotWaitForTheLogPush(t *testing.T) {
	bare := bareRepo(t, 2*time.Second)
	logDir := filepath.Join(t.TempDir(), "log")
	d, errb := pushDeps(t, logDir, bare)
	t.Cleanup(func() { waitPusher(t, d) })
	start := time.Now()
	recordOne(t, d, "one")
	took := time.Since(start)
	t.Logf("the run took %s", took)
	if took > time.Second {
		t.Errorf("the run took %s with a 2 s push", took)
	}
	if errb.Len() != 0 {
		t.Errorf("stderr %q", errb.String())
	}
	if n := gitCount(t, logDir, "p"); n != 1 {
		t.Fatalf("%d local entries", n)
	}
	if n := gitCount(t, bare, "p"); n != 0 {
		t.Errorf("the entry was on the remote when the run returned")
	}
	// A run while that push is under way does not wait for it either: the
	// running pusher sends its entry too.
	start = time.Now()
	recordOne(t, d, "two")
	if took := time.Since(start); took > time.Second {
		t.Errorf("the second run took %s during a 2 s push", took)
	}
	waitPusher(t, d)
	if n := gitCount(t, bare, "p"); n != 2 {
		t.Errorf("%d entries on the remote after the push, want 2", n)
	}
	if _, err := os.Stat(filepath.Join(logDir, ".git", pushFailedFile)); err == nil {
		t.Error("failure marker after a push that worked")
	}
}

// With the remote down, ten runs are queued and the failure is told once a
// run; ops log push with the remote back sends them all, in order, once.
func TestQueuedRunsArePushedInOrderOnce(t *testing.T) {
	bare := bareRepo(t, 0)
	logDir := filepath.Join(t.TempDir(), "log")
	down := filepath.Join(t.TempDir(), "gone.git")
	d, errb := pushDeps(t, logDir, down)
	t.Cleanup(func() { waitPusher(t, d) })
	var words []string
	for i := 0; i < 10; i++ {
		errb.Reset()
		w := fmt.Sprintf("run%02d", i)
		words = append(words, w)
		recordOne(t, d, w)
		waitPusher(t, d) // so that each run after the first finds the marker
		if i == 0 {
			if errb.Len() != 0 {
				t.Errorf("first run: stderr %q", errb.String())
			}
			continue
		}
		want := fmt.Sprintf("ops: warning: run log: %d entries queued, last push failed: ", i+1)
		if got := errb.String(); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "; ops log push sends them\n") || strings.Count(got, "\n") != 1 {
			t.Errorf("run %d: stderr %q, want %q…", i, got, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(logDir, ".git", pushFailedFile)); err != nil || !strings.Contains(string(b), "gone.git") {
		t.Errorf("marker %q %v", b, err)
	}
	if n := gitCount(t, logDir, "p"); n != 10 {
		t.Fatalf("%d local entries, want 10", n)
	}
	t.Setenv("OPS_LOG_DIR", logDir)
	t.Setenv("OPS_LOG_REMOTE", bare)
	t.Setenv("OPS_LOG_PROJECT", "p")
	code, list, _ := runArgs(context.Background(), t, "log", "list", "-n", "20")
	if code != 0 || strings.Count(list, " QUEUED ops remote echo run") != 10 {
		t.Errorf("log list before the push: exit %d\n%s", code, list)
	}
	code, _, stderr := runArgs(context.Background(), t, "log", "push")
	if code != 0 || stderr != "ops: pushed 10 run(s) to "+bare+"\n" {
		t.Fatalf("log push: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runArgs(context.Background(), t, "log", "push")
	if code != 0 || !strings.Contains(stderr, "pushed 0 run(s)") {
		t.Errorf("second log push: exit %d, stderr %q", code, stderr)
	}
	if _, list, _ := runArgs(context.Background(), t, "log", "list", "-n", "20"); strings.Contains(list, "QUEUED") || strings.Count(list, "ops remote echo run") != 10 {
		t.Errorf("log list after the push:\n%s", list)
	}
	subjects := strings.Fields(gitOutput(t, bare, "log", "--reverse", "--format=%s", "p"))
	var got []string
	for _, s := range subjects {
		if strings.HasPrefix(s, "run") {
			got = append(got, s)
		}
	}
	if strings.Join(got, " ") != strings.Join(words, " ") {
		t.Errorf("remote has %q, want %q", got, words)
	}
	if _, err := os.Stat(filepath.Join(logDir, ".git", pushFailedFile)); err == nil {
		t.Error("failure marker left after ops log push")
	}
	// The next run neither warns nor waits, and its push sends only itself.
	d2, errb2 := pushDeps(t, logDir, bare)
	recordOne(t, d2, "after")
	waitPusher(t, d2)
	if errb2.Len() != 0 {
		t.Errorf("stderr %q", errb2.String())
	}
	if n := gitCount(t, bare, "p"); n != 11 {
		t.Errorf("%d entries on the remote, want 11", n)
	}
}
