// Package runlog records every run in a Git repository: one file per run
// (a header, then the transcript as the operator saw it), one commit per
// run, on a branch per project; written and committed locally first, then
// pushed, and queued when the push fails. It drives the git program; a
// file lock serialises runs that share the repository.
package runlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Repo is the local clone of the run log.
type Repo struct {
	Dir    string
	Remote string // "" : local only
	Branch string
	// GitSSH is the GIT_SSH_COMMAND git uses for ssh:// remotes (ops
	// itself, so that no ssh binary is needed).
	GitSSH string
	Env    []string // extra environment for git
}

func (r *Repo) git(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", r.Dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	if r.GitSSH != "" {
		cmd.Env = append(cmd.Env, "GIT_SSH_COMMAND="+r.GitSSH, "GIT_SSH_VARIANT=ssh")
	}
	cmd.Env = append(cmd.Env, r.Env...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if i := strings.LastIndex(msg, "\n"); i >= 0 && strings.HasPrefix(msg[i+1:], "fatal:") {
			msg = msg[i+1:]
		}
		var ee *exec.Error
		if errors.As(err, &ee) {
			return "", fmt.Errorf("the run log needs git: %v", err)
		}
		return out.String(), fmt.Errorf("git %s: %s", args[0], firstLine(msg, err))
	}
	return out.String(), nil
}

func firstLine(msg string, err error) string {
	if msg == "" {
		return err.Error()
	}
	lines := strings.Split(msg, "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "fatal:") || strings.HasPrefix(l, "error:") {
			return l
		}
	}
	return lines[len(lines)-1]
}

// lock takes the repository's lock (flock), waiting up to a minute: it
// guards the working tree and HEAD (commits, checkouts, rebases).
func (r *Repo) lock(ctx context.Context) (func(), error) {
	return r.flock(ctx, ".ops-runlog.lock", "the run log is locked by another run")
}

// pushLock serialises pushes (waiting up to a minute), which run without
// the repository's lock while they wait on the network.
func (r *Repo) pushLock(ctx context.Context) (func(), error) {
	return r.flock(ctx, filepath.Join(".git", "ops-runlog-push.lock"), "the run log is being pushed by another run")
}

func (r *Repo) flock(ctx context.Context, name, busy string) (func(), error) {
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(r.Dir, name), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			f.Close()
			return nil, errors.New(busy)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ensure makes Dir a repository on Branch. With fetch, a branch new here
// starts from the remote's (when it has one and the remote answers); a
// commit never fetches, so that it needs no network: its branch then
// starts empty and the push rebases it onto the remote's.
func (r *Repo) ensure(ctx context.Context, fetch bool) error {
	if _, err := os.Stat(filepath.Join(r.Dir, ".git")); err != nil {
		if _, err := r.git(ctx, nil, "init", "-q"); err != nil {
			return err
		}
		// The lock file is ours, not the log's.
		if err := os.WriteFile(filepath.Join(r.Dir, ".git", "info", "exclude"), []byte(".ops-runlog.lock\n"), 0o600); err != nil {
			return err
		}
	}
	if r.Remote != "" {
		cur, _ := r.git(ctx, nil, "remote", "get-url", "origin")
		switch {
		case strings.TrimSpace(cur) == "":
			if _, err := r.git(ctx, nil, "remote", "add", "origin", r.Remote); err != nil {
				return err
			}
		case strings.TrimSpace(cur) != r.Remote:
			if _, err := r.git(ctx, nil, "remote", "set-url", "origin", r.Remote); err != nil {
				return err
			}
		}
	}
	head, _ := r.git(ctx, nil, "symbolic-ref", "--short", "HEAD")
	if strings.TrimSpace(head) != r.Branch {
		if _, err := r.git(ctx, nil, "rev-parse", "--verify", "-q", "refs/heads/"+r.Branch); err == nil {
			_, err = r.git(ctx, nil, "checkout", "-q", r.Branch)
			return err
		}
		if r.Remote != "" && fetch {
			// Start from the remote's branch when it exists and answers.
			if _, err := r.git(ctx, nil, "fetch", "-q", "origin", r.Branch); err == nil {
				_, err = r.git(ctx, nil, "checkout", "-q", "-b", r.Branch, "FETCH_HEAD")
				return err
			}
		}
		_, err := r.git(ctx, nil, "checkout", "-q", "--orphan", r.Branch)
		return err
	}
	return nil
}

// Commit writes the entry at path (relative) and commits it with message,
// under the lock. It never pushes.
func (r *Repo) Commit(ctx context.Context, path string, content []byte, message, author string) (string, error) {
	unlock, err := r.lock(ctx)
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := r.ensure(ctx, false); err != nil {
		return "", err
	}
	if err := r.writeEntry(path, content); err != nil {
		return "", err
	}
	if _, err := r.git(ctx, nil, "add", "--", path); err != nil {
		return "", err
	}
	args := []string{"-c", "user.name=" + author, "-c", "user.email=" + author, "commit", "-q", "--no-verify", "-F", "-", "--", path}
	if _, err := r.git(ctx, strings.NewReader(message), args...); err != nil {
		return "", err
	}
	id, err := r.git(ctx, nil, "rev-parse", "--short=12", "HEAD")
	return strings.TrimSpace(id), err
}

// writeEntry writes a new file at path inside the clone, creating its
// directories. The clone's tree comes from a shared remote, where anyone
// may have pushed a symbolic link: no component of path may be one (each is
// checked with Lstat from the clone's root, and the file is created new,
// never followed), so that nothing lands outside the clone.
func (r *Repo) writeEntry(path string, content []byte) error {
	rel := filepath.Clean(filepath.FromSlash(path))
	if filepath.IsAbs(rel) || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("run log entry %s: not a path inside the clone", path)
	}
	parts := strings.Split(rel, string(filepath.Separator))
	dir := r.Dir
	for _, p := range parts[:len(parts)-1] {
		dir = filepath.Join(dir, p)
		fi, err := os.Lstat(dir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.Mkdir(dir, 0o700); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		case fi.Mode()&os.ModeSymlink != 0:
			return fmt.Errorf("run log entry %s: %s is a symbolic link in the clone %s (pushed to the log's remote?): refused", path, dir, r.Dir)
		case !fi.IsDir():
			return fmt.Errorf("run log entry %s: %s is not a directory", path, dir)
		}
	}
	full := filepath.Join(dir, parts[len(parts)-1])
	f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		if fi, lerr := os.Lstat(full); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("run log entry %s: %s is a symbolic link in the clone %s: refused", path, full, r.Dir)
		}
		return err
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Pending counts local commits the remote does not have yet.
func (r *Repo) Pending(ctx context.Context) (int, error) {
	if _, err := r.git(ctx, nil, "rev-parse", "--verify", "-q", "refs/remotes/origin/"+r.Branch); err != nil {
		out, err := r.git(ctx, nil, "rev-list", "--count", "HEAD")
		if err != nil {
			return 0, nil
		}
		return strconv.Atoi(strings.TrimSpace(out))
	}
	out, err := r.git(ctx, nil, "rev-list", "--count", "refs/remotes/origin/"+r.Branch+"..HEAD")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

// Push sends queued commits, rebasing over others' commits when the remote
// moved (every entry is a new file, so a rebase never conflicts). Pushes
// are serialised; the repository's lock is held only for the local steps
// (the checkout, the rebase), so that a run committing meanwhile does not
// wait on the network. A commit made during the push stays queued.
func (r *Repo) Push(ctx context.Context) (int, error) {
	if r.Remote == "" {
		return 0, nil
	}
	if _, err := os.Stat(filepath.Join(r.Dir, ".git")); err != nil {
		return 0, nil // nothing recorded yet
	}
	unpush, err := r.pushLock(ctx)
	if err != nil {
		return 0, err
	}
	defer unpush()
	unlock, err := r.lock(ctx)
	if err != nil {
		return 0, err
	}
	err = r.ensure(ctx, true)
	if err == nil {
		if _, err := r.git(ctx, nil, "rev-parse", "--verify", "-q", "HEAD"); err != nil {
			unlock()
			return 0, nil // nothing recorded yet
		}
	}
	unlock()
	if err != nil {
		return 0, err
	}
	var last error
	for try := 0; try < 3; try++ {
		heads, err := r.git(ctx, nil, "ls-remote", "--heads", "origin", "refs/heads/"+r.Branch)
		if err != nil {
			return 0, err
		}
		moved := strings.TrimSpace(heads) != ""
		if moved {
			if _, err := r.git(ctx, nil, "fetch", "-q", "origin", "+refs/heads/"+r.Branch+":refs/remotes/origin/"+r.Branch); err != nil {
				return 0, err
			}
		}
		head, n, err := r.rebased(ctx, moved)
		if err != nil || n == 0 {
			return 0, err
		}
		if _, last = r.git(ctx, nil, "push", "-q", "origin", head+":refs/heads/"+r.Branch); last == nil {
			_, _ = r.git(ctx, nil, "update-ref", "refs/remotes/origin/"+r.Branch, head)
			return n, nil
		}
	}
	return 0, last
}

// Reachable asks the remote for its branches (git ls-remote --heads) as a
// push reaches it, without the local clone; its error is git's last line.
func (r *Repo) Reachable(ctx context.Context) error {
	if r.Remote == "" {
		return errors.New("no remote")
	}
	c := *r
	c.Dir = os.TempDir()
	_, err := c.git(ctx, nil, "ls-remote", "--heads", r.Remote)
	return err
}

// rebased rebases Branch onto the remote's (when it has one), under the
// repository's lock, and returns the commit to push and how many commits
// it adds to the remote's.
func (r *Repo) rebased(ctx context.Context, onto bool) (string, int, error) {
	unlock, err := r.lock(ctx)
	if err != nil {
		return "", 0, err
	}
	defer unlock()
	// A run may have checked out another project's branch meanwhile.
	if err := r.ensure(ctx, false); err != nil {
		return "", 0, err
	}
	if onto {
		// The rebase is local and short: an interrupt of the push must
		// not leave it half done.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_, err := r.git(lctx, nil, "-c", "user.name=ops", "-c", "user.email=ops", "rebase", "-q", "refs/remotes/origin/"+r.Branch)
		if err != nil {
			_, _ = r.git(lctx, nil, "rebase", "--abort")
		}
		cancel()
		if err != nil {
			return "", 0, err
		}
	}
	n, err := r.Pending(ctx)
	if err != nil || n == 0 {
		return "", 0, err
	}
	head, err := r.git(ctx, nil, "rev-parse", "HEAD")
	return strings.TrimSpace(head), n, err
}
