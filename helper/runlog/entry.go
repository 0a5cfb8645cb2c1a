package runlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Checkout is the state of the local working checkout, for local runs.
type Checkout struct {
	Revision string `yaml:"revision"`
	Dirty    bool   `yaml:"dirty"`
}

// HostResult is one target's outcome, where ops knows it.
type HostResult struct {
	Name   string `yaml:"name"`
	Result string `yaml:"result"` // ok, failed, unreachable, timed-out, not-started, interrupted
	Exit   *int   `yaml:"exit,omitempty"`
}

// Header says who ran what, where, when, with which outcome.
type Header struct {
	Command       string       `yaml:"command"`
	Argv          []string     `yaml:"argv"`
	User          string       `yaml:"user"`
	Host          string       `yaml:"host"`
	Server        string       `yaml:"server,omitempty"`
	Image         string       `yaml:"image,omitempty"`
	ImageDigest   string       `yaml:"image_digest,omitempty"`
	ImageRevision string       `yaml:"image_revision,omitempty"`
	Checkout      *Checkout    `yaml:"checkout,omitempty"`
	OpsVersion    string       `yaml:"ops_version"`
	Start         time.Time    `yaml:"start"`
	End           time.Time    `yaml:"end"`
	Duration      string       `yaml:"duration"`
	Exit          string       `yaml:"exit"` // the exit code, or "interrupted"
	Hosts         []HostResult `yaml:"hosts,omitempty"`
}

// Entry is one run.
type Entry struct {
	Header     Header
	Transcript []byte // already masked
}

// Render gives the file: a YAML header between --- lines, then the transcript.
func (e Entry) Render(m *Mask) ([]byte, error) {
	h, err := yaml.Marshal(e.Header)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("---\n")
	b.Write(m.Apply(h))
	b.WriteString("---\n")
	b.Write(e.Transcript)
	return b.Bytes(), nil
}

var unsafePath = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// Path is where the entry goes: YYYY/MM/DD/HHMMSS-USER-WORD-RAND.log.
func (e Entry) Path() string {
	word := "run"
	if len(e.Header.Argv) > 1 {
		word = e.Header.Argv[1]
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	t := e.Header.Start.UTC()
	return fmt.Sprintf("%s/%s-%s-%s-%s.log", t.Format("2006/01/02"), t.Format("150405"),
		unsafePath.ReplaceAllString(e.Header.User, "_"), unsafePath.ReplaceAllString(word, "_"), hex.EncodeToString(b))
}

// Message is the commit message: the command, marked when it failed or
// was interrupted, with trailers for `ops log list`.
func (e Entry) Message(m *Mask) string {
	prefix := ""
	switch {
	case e.Header.Exit == "interrupted":
		prefix = "[interrupted] "
	case e.Header.Exit != "0":
		prefix = "[failed] "
	}
	subject := strings.ReplaceAll(m.MaskString(e.Header.Command), "\n", " ")
	return fmt.Sprintf("%s%s\n\nOps-User: %s\nOps-Exit: %s\nOps-Hosts: %d\n", prefix, subject, e.Header.User, e.Header.Exit, len(e.Header.Hosts))
}

// Save commits the entry locally; it never pushes.
func (r *Repo) Save(ctx context.Context, e Entry, m *Mask) (id string, err error) {
	content, err := e.Render(m)
	if err != nil {
		return "", err
	}
	author := unsafePath.ReplaceAllString(e.Header.User, "_") + "@" + unsafePath.ReplaceAllString(e.Header.Host, "_")
	return r.Commit(ctx, e.Path(), content, e.Message(m), author)
}

// Record commits the entry locally, then pushes what is queued. The
// returned error concerns the commit; a push failure comes apart, since the
// entry is safe locally and goes with the next push.
func (r *Repo) Record(ctx context.Context, e Entry, m *Mask) (id string, pushed int, pushErr error, err error) {
	if id, err = r.Save(ctx, e, m); err != nil {
		return "", 0, nil, err
	}
	pushed, pushErr = r.Push(ctx)
	return id, pushed, pushErr, nil
}

var (
	recapLine = regexp.MustCompile(`(?m)^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)
	execLine  = regexp.MustCompile(`(?m)^(\S+)\s+:\s+(ok|failed|unreachable|timed-out|not-started|interrupted)(?:\s+exit=(-?\d+))?`)
)

// ExecRecapHeader starts the per-host results `ops exec` prints, which an
// outer ops (remote-container) reads back from the transcript.
const ExecRecapHeader = "EXEC RECAP"

// WriteExecRecap prints the per-host results as PlayRecap reads them back:
// one line a host, "NAME : RESULT" with " exit=N" where the host gave one.
func WriteExecRecap(w io.Writer, hosts []HostResult) {
	width := 0
	for _, h := range hosts {
		width = max(width, len(h.Name))
	}
	var b bytes.Buffer
	b.WriteString(ExecRecapHeader + "\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "%-*s : %s", width, h.Name, h.Result)
		if h.Exit != nil {
			fmt.Fprintf(&b, " exit=%d", *h.Exit)
		}
		b.WriteByte('\n')
	}
	_, _ = w.Write(b.Bytes())
}

// PlayRecap reads the hosts and their results from an Ansible PLAY RECAP,
// or from an `ops exec` EXEC RECAP.
func PlayRecap(transcript []byte) []HostResult {
	if i := bytes.LastIndex(transcript, []byte(ExecRecapHeader)); i >= 0 {
		var out []HostResult
		for _, m := range execLine.FindAllSubmatch(transcript[i:], -1) {
			hr := HostResult{Name: string(m[1]), Result: string(m[2])}
			if len(m[3]) > 0 {
				n, _ := strconv.Atoi(string(m[3]))
				hr.Exit = &n
			}
			out = append(out, hr)
		}
		return out
	}
	i := bytes.LastIndex(transcript, []byte("PLAY RECAP"))
	if i < 0 {
		return nil
	}
	var out []HostResult
	for _, m := range recapLine.FindAllSubmatch(transcript[i:], -1) {
		unreach, _ := strconv.Atoi(string(m[4]))
		failed, _ := strconv.Atoi(string(m[5]))
		res := "ok"
		switch {
		case failed > 0:
			res = "failed"
		case unreach > 0:
			res = "unreachable"
		}
		out = append(out, HostResult{Name: string(m[1]), Result: res})
	}
	return out
}

// Summary is one line of `ops log list`.
type Summary struct {
	ID      string `json:"id"`
	Time    string `json:"time"`
	User    string `json:"user"`
	Exit    string `json:"exit"`
	Command string `json:"command"`
	Hosts   int    `json:"hosts"`
}

// List returns the newest entries first.
// A log that was never written is empty; a log that cannot be read (no
// git, an unreadable directory, not a repository) is an error, never an
// empty list.
func (r *Repo) List(ctx context.Context, n int) ([]Summary, error) {
	if _, err := os.Stat(r.Dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("run log %s: %v", r.Dir, err)
	}
	if _, err := r.git(ctx, nil, "rev-parse", "--git-dir"); err != nil {
		return nil, fmt.Errorf("run log %s: %v", r.Dir, err)
	}
	if _, err := r.git(ctx, nil, "rev-parse", "--verify", "-q", "refs/heads/"+r.Branch); err != nil {
		return nil, nil
	}
	out, err := r.git(ctx, nil, "log", fmt.Sprintf("-n%d", n), "--format=%h%x1f%cI%x1f%s%x1f%(trailers:key=Ops-User,valueonly,separator=)%x1f%(trailers:key=Ops-Exit,valueonly,separator=)%x1f%(trailers:key=Ops-Hosts,valueonly,separator=)%x1e", "refs/heads/"+r.Branch)
	if err != nil {
		return nil, err
	}
	var list []Summary
	for _, rec := range strings.Split(out, "\x1e") {
		f := strings.Split(strings.TrimSpace(rec), "\x1f")
		if len(f) < 6 {
			continue
		}
		hosts, _ := strconv.Atoi(strings.TrimSpace(f[5]))
		list = append(list, Summary{ID: f[0], Time: f[1], Command: f[2], User: strings.TrimSpace(f[3]), Exit: strings.TrimSpace(f[4]), Hosts: hosts})
	}
	return list, nil
}

// Show returns the entry committed as id.
func (r *Repo) Show(ctx context.Context, id string) ([]byte, error) {
	if !regexp.MustCompile(`^[0-9a-f]{4,40}$`).MatchString(id) {
		return nil, fmt.Errorf("%q is not an entry ID (see ops log list)", id)
	}
	names, err := r.git(ctx, nil, "show", "--format=", "--name-only", id)
	if err != nil {
		return nil, fmt.Errorf("no entry %s in the run log", id)
	}
	path := strings.TrimSpace(names)
	if path == "" || strings.Contains(path, "\n") {
		return nil, fmt.Errorf("commit %s is not a run-log entry", id)
	}
	out, err := r.git(ctx, nil, "show", id+":"+path)
	return []byte(out), err
}

// CheckoutOf describes the git checkout holding dir, or nil outside one.
func CheckoutOf(ctx context.Context, dir string) *Checkout {
	r := &Repo{Dir: dir}
	rev, err := r.git(ctx, nil, "rev-parse", "HEAD")
	if err != nil {
		return nil
	}
	st, err := r.git(ctx, nil, "status", "--porcelain", "--untracked-files=no")
	return &Checkout{Revision: strings.TrimSpace(rev), Dirty: err != nil || strings.TrimSpace(st) != ""}
}

// ProjectOf names the run log's branch after the git checkout holding dir.
func ProjectOf(ctx context.Context, dir string) string {
	r := &Repo{Dir: dir}
	top, err := r.git(ctx, nil, "rev-parse", "--show-toplevel")
	if err != nil || strings.TrimSpace(top) == "" {
		return "default"
	}
	return BranchName(strings.TrimSpace(top[strings.LastIndex(strings.TrimSpace(top), "/")+1:]))
}

// BranchName makes s a safe branch name.
func BranchName(s string) string {
	s = strings.Trim(unsafePath.ReplaceAllString(s, "-"), "-.")
	if s == "" {
		return "default"
	}
	return s
}
