package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ops-team/ops/helper/runlog"
	"github.com/ops-team/ops/helper/sshx"
)

// The run log is pushed in the background: a run ends once its entry is
// committed locally, and a detached `ops log __push` sends what is queued.
// One pusher runs per branch, holding the branch's push lock (a flock on a
// file in the clone's .git) until it exits; a run that finds the lock held
// leaves its commit to that pusher, which loops until nothing is queued.
// A failed push leaves its error line in pushFailedFile, which the next run
// reports in one warning.

const (
	pushBound      = 45 * time.Second // one background push, at most
	pushFailedFile = "ops-push-failed"
	pushDirEnv     = "OPS_PUSH_DIR"
	pushRemoteEnv  = "OPS_PUSH_REMOTE"
	pushBranchEnv  = "OPS_PUSH_BRANCH"
	pushLockFD     = 3 // the lock handed to the pusher (ExtraFiles[0])
)

func pushLockPath(r *runlog.Repo) string {
	return filepath.Join(r.Dir, ".git", "ops-push-"+strings.ReplaceAll(r.Branch, "/", "_")+".lock")
}

// tryPushLock takes the branch's push lock without waiting; nil, nil when
// another process holds it.
func tryPushLock(r *runlog.Repo) (*os.File, error) {
	f, err := os.OpenFile(pushLockPath(r), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, err
	}
	return f, nil
}

// waitPushLock takes the push lock, waiting for a running pusher until ctx
// ends.
func waitPushLock(ctx context.Context, r *runlog.Repo) (*os.File, error) {
	for {
		f, err := tryPushLock(r)
		if f != nil || err != nil {
			return f, err
		}
		select {
		case <-ctx.Done():
			return nil, errors.New("the run log's push lock is held by another push")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func unlockPush(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	f.Close()
}

// startPush hands the queued entries to a detached pusher, unless one runs
// already (it picks this run's commit up).
func (d *deps) startPush(r *runlog.Repo) error {
	f, err := tryPushLock(r)
	if err != nil || f == nil {
		return err
	}
	defer f.Close() // the pusher holds its own descriptor of the lock
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		unlockPush(f)
		return err
	}
	defer null.Close()
	cmd := exec.Command(d.self, "log", "__push")
	cmd.Env = append(os.Environ(), "OPS_CONFIG="+d.cfg.File, pushDirEnv+"="+r.Dir, pushRemoteEnv+"="+r.Remote, pushBranchEnv+"="+r.Branch)
	cmd.Dir = r.Dir // no hold on the operator's directory
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		unlockPush(f)
		return fmt.Errorf("starting the log push: %v", err)
	}
	return cmd.Process.Release()
}

// pushAndMark pushes once, bounded, and leaves or clears the failure marker.
func pushAndMark(ctx context.Context, r *runlog.Repo, bound time.Duration) (int, error) {
	pctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	n, err := r.Push(pctx)
	marker := filepath.Join(r.Dir, ".git", pushFailedFile)
	if err != nil {
		if pctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("no answer in %s", bound)
		}
		_ = os.WriteFile(marker, []byte(strings.ReplaceAll(err.Error(), "\n", " ")+"\n"), 0o600)
		return n, err
	}
	_ = os.Remove(marker)
	return n, nil
}

// backgroundPush is `ops log __push`: it holds the lock on fd 3, pushes
// until nothing is queued, and exits. A push that fails ends it: the marker
// tells the next run.
func (d *deps) backgroundPush(ctx context.Context) error {
	r := &runlog.Repo{
		Dir: d.getenv(pushDirEnv), Remote: d.getenv(pushRemoteEnv), Branch: d.getenv(pushBranchEnv),
		GitSSH: sshx.Quote(d.self) + " ssh-git",
		Env:    []string{"OPS_CONFIG=" + d.getenv("OPS_CONFIG")},
	}
	if r.Dir == "" || r.Remote == "" || r.Branch == "" {
		return usagef("log __push is started by ops itself")
	}
	lock := os.NewFile(pushLockFD, "push lock")
	if lock == nil {
		return errors.New("log __push: no lock on fd 3")
	}
	for i := 0; i < 10; i++ {
		if _, err := pushAndMark(ctx, r, pushBound); err != nil {
			unlockPush(lock)
			return err
		}
		unlockPush(lock)
		// A run that committed while the lock was held left its entry to
		// us: look again once the lock is free.
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := r.Pending(qctx)
		cancel()
		if err != nil || n == 0 {
			return err
		}
		if lock, err = tryPushLock(r); err != nil || lock == nil {
			return err // another pusher took over
		}
	}
	unlockPush(lock)
	return nil
}

// pushWarning is one line when the last push failed and entries wait.
func pushWarning(ctx context.Context, r *runlog.Repo, m *runlog.Mask) string {
	b, err := os.ReadFile(filepath.Join(r.Dir, ".git", pushFailedFile))
	if err != nil {
		return ""
	}
	n, err := r.Pending(ctx)
	if err != nil || n == 0 {
		return ""
	}
	return fmt.Sprintf("ops: warning: run log: %d entries queued, last push failed: %s; ops log push sends them\n", n, m.MaskString(strings.TrimSpace(string(b))))
}
