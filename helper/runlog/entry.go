package runlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// Checkout is the state of the local working checkout, for local runs.
type Checkout struct {
	Revision string `yaml:"revision"`
	Dirty    bool   `yaml:"dirty"`
}

// HostResult is one target's outcome, where ops knows it.
type HostResult struct {
	Name   string `yaml:"name" json:"name"`
	Result string `yaml:"result" json:"result"` // ok, failed, unreachable, timed-out, not-started, interrupted
	Exit   *int   `yaml:"exit,omitempty" json:"exit,omitempty"`
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

var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]")

var recapLine = regexp.MustCompile(`^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// ExecRecapHeader starts the per-host results `ops exec` prints for people.
const ExecRecapHeader = "EXEC RECAP"

// WriteExecRecap prints the per-host results for people: one line a host,
// "NAME : RESULT" with " exit=N" where the host gave one. It is never read
// back (see ResultLine).
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

// PlayRecap reads the hosts and their results from the PLAY RECAP that
// ends an ansible-playbook run. The caller reads it only from a run whose
// command is ansible-playbook (see RunsAnsiblePlaybook); even then the
// targets' output comes before it in the transcript, so only a recap that
// ends Ansible's output counts: the last line that begins "PLAY RECAP", the
// host lines right after it, then nothing but blank lines and ops's own
// lines ("ops: ..."). An `ops exec` EXEC RECAP is for people and is never
// read back: an inner ops sends its results on the trusted channel
// (ResultLine).
func PlayRecap(transcript []byte) []HostResult {
	// At a terminal Ansible colours the recap and the terminal ends lines
	// with CR LF.
	plain := ansiEscape.ReplaceAllString(strings.ReplaceAll(string(transcript), "\r\n", "\n"), "")
	lines := strings.Split(plain, "\n")
	start := -1
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "PLAY RECAP") {
			start = i
			break
		}
	}
	if start < 0 {
		return nil
	}
	var out []HostResult
	i := start + 1
	for ; i < len(lines); i++ {
		m := recapLine.FindStringSubmatch(lines[i])
		if m == nil {
			break
		}
		unreach, _ := strconv.Atoi(m[4])
		failed, _ := strconv.Atoi(m[5])
		res := "ok"
		switch {
		case failed > 0:
			res = "failed"
		case unreach > 0:
			res = "unreachable"
		}
		out = append(out, HostResult{Name: m[1], Result: res})
	}
	for ; i < len(lines); i++ {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "ops: ") {
			return nil // more came after it: not the recap that ended the run
		}
	}
	return out
}

// RunsAnsiblePlaybook says whether the wrapped command in argv (an ops
// command line as typed) runs ansible-playbook: one of its words, split
// as a shell would at blanks and operators, is ansible-playbook or a path
// to it.
func RunsAnsiblePlaybook(argv []string) bool {
	if len(argv) < 2 {
		return false
	}
	for _, a := range argv[1:] {
		for _, w := range strings.FieldsFunc(a, func(r rune) bool {
			return strings.ContainsRune(" \t\n;&|()`'\"$", r)
		}) {
			if w == "ansible-playbook" || strings.HasSuffix(w, "/ansible-playbook") {
				return true
			}
		}
	}
	return false
}

// ResultEnv names the variable through which an outer ops (remote-container,
// local-container) gives the ops inside the container the run's nonce.
const ResultEnv = "OPS_RESULT_NONCE"

// resultPrefix starts a result line: "ops-result:NONCE:BASE64(JSON)".
const resultPrefix = "ops-result:"

// NewNonce is a run's secret: 128 random bits in hex. It goes to the
// container in its environment, never on a command line, so no target ever
// sees it.
func NewNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ResultLine is how an inner ops exec or ops play sends its per-host
// results to the outer ops: one line on stderr, marked with the nonce, the
// results as base64 of their JSON (no byte a terminal would change). The
// outer ops removes the line from what the operator sees.
func ResultLine(nonce string, hosts []HostResult) []byte {
	js, _ := json.Marshal(hosts)
	return []byte(resultPrefix + nonce + ":" + base64.StdEncoding.EncodeToString(js) + "\n")
}

// maxResultLine bounds a result line (a thousand hosts take about 100 KB).
const maxResultLine = 32 << 20

// Results receives the lines marked with its nonce from a container's
// output streams (through Filter). Only such a line is ever read as
// results: the nonce is unknown to anything a target prints.
type Results struct {
	marker []byte
	mu     sync.Mutex
	hosts  []HostResult
	got    bool
}

// NewResults waits for result lines marked with nonce.
func NewResults(nonce string) *Results {
	return &Results{marker: []byte(resultPrefix + nonce + ":")}
}

// Hosts are the results received, in order (several lines when the command
// ran ops more than once); nil when none came.
func (r *Results) Hosts() []HostResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.got {
		return nil
	}
	return slices.Clone(r.hosts)
}

func (r *Results) accept(payload []byte) {
	payload = bytes.TrimRight(payload, "\r")
	js, err := base64.StdEncoding.DecodeString(string(payload))
	if err != nil {
		return
	}
	var hosts []HostResult
	if json.Unmarshal(js, &hosts) != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hosts = append(r.hosts, hosts...)
	r.got = true
}

// Filter passes w everything written to it except the result lines, which
// go to r. A line is one when it starts with the marker (at the start of
// the stream or after a newline or carriage return); while a line's start
// could still be the marker it is held back, so that other output passes
// at once. Close releases what is held back at the end of the stream.
func (r *Results) Filter(w io.Writer) *ResultFilter {
	return &ResultFilter{r: r, w: w, lineStart: true}
}

// ResultFilter is one stream's filter (see Results.Filter); one goroutine
// writes it.
type ResultFilter struct {
	r         *Results
	w         io.Writer
	lineStart bool
	pending   []byte // a line start that is the marker so far, or a result line
	capturing bool   // pending holds the whole marker: the line is a result
	overflow  bool   // a result line too long: skipped to its end
	out       []byte
}

func (f *ResultFilter) Write(p []byte) (int, error) {
	marker := f.r.marker
	f.out = f.out[:0]
	for _, c := range p {
		switch {
		case f.capturing:
			if c == '\n' {
				if !f.overflow {
					f.r.accept(f.pending[len(marker):])
				}
				f.pending, f.capturing, f.overflow, f.lineStart = f.pending[:0], false, false, true
				continue
			}
			if len(f.pending) < maxResultLine {
				f.pending = append(f.pending, c)
			} else {
				f.overflow = true
			}
			continue
		case len(f.pending) > 0:
			if c == marker[len(f.pending)] {
				f.pending = append(f.pending, c)
				f.capturing = len(f.pending) == len(marker)
				continue
			}
			f.out = append(f.out, f.pending...)
			f.pending, f.lineStart = f.pending[:0], false
		}
		if f.lineStart && c == marker[0] {
			f.pending = append(f.pending, c)
			continue
		}
		f.out = append(f.out, c)
		f.lineStart = c == '\n' || c == '\r'
	}
	if len(f.out) == 0 {
		return len(p), nil
	}
	if _, err := f.w.Write(f.out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes what is held back: a line start that was not the marker.
// A result line cut short is dropped (it holds the nonce).
func (f *ResultFilter) Close() error {
	if f.capturing || len(f.pending) == 0 {
		f.pending, f.capturing = nil, false
		return nil
	}
	_, err := f.w.Write(f.pending)
	f.pending = nil
	return err
}

// Summary is one line of `ops log list`.
type Summary struct {
	ID      string `json:"id"`
	Time    string `json:"time"`
	User    string `json:"user"`
	Exit    string `json:"exit"`
	Command string `json:"command"`
	Hosts   int    `json:"hosts"`
	// Queued: committed here, not pushed yet (only with a Remote).
	Queued bool `json:"queued"`
}

// List returns the newest entries first.
// ListFilter chooses entries for List.
type ListFilter struct {
	N           int       // at most this many (newest first)
	Host        string    // runs that recorded this host
	User        string    // runs of this user
	Failed      bool      // runs that did not exit 0
	Since       time.Time // runs committed at or after
	AllProjects bool      // every branch, not only the repo's
}

// List returns the newest entries first. A log that was never written is
// empty; a log that cannot be read (no git, an unreadable directory, not a
// repository) is an error, never an empty list.
func (r *Repo) List(ctx context.Context, f ListFilter) ([]Summary, error) {
	if _, err := os.Stat(r.Dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("run log %s: %v", r.Dir, err)
	}
	if _, err := r.git(ctx, nil, "rev-parse", "--git-dir"); err != nil {
		return nil, fmt.Errorf("run log %s: %v", r.Dir, err)
	}
	args := []string{"log", "--format=%h%x1f%cI%x1f%s%x1f%(trailers:key=Ops-User,valueonly,separator=)%x1f%(trailers:key=Ops-Exit,valueonly,separator=)%x1f%(trailers:key=Ops-Hosts,valueonly,separator=)%x1f%D%x1f%H%x1e"}
	if !f.Since.IsZero() {
		args = append(args, "--since="+f.Since.UTC().Format(time.RFC3339))
	}
	if f.Host != "" {
		// The entry's header lists each host as "- name: HOST".
		args = append(args, "-G", `- name: `+regexp.QuoteMeta(f.Host)+`$`)
	}
	if f.AllProjects {
		args = append(args, "--branches")
	} else {
		if _, err := r.git(ctx, nil, "rev-parse", "--verify", "-q", "refs/heads/"+r.Branch); err != nil {
			return nil, nil
		}
		args = append(args, "refs/heads/"+r.Branch)
	}
	out, err := r.git(ctx, nil, args...)
	if err != nil {
		return nil, err
	}
	queued := map[string]bool{}
	if r.Remote != "" {
		q, err := r.git(ctx, nil, append([]string{"rev-list"}, append(args[len(args)-1:], "--not", "--remotes=origin")...)...)
		if err != nil {
			return nil, err
		}
		for _, h := range strings.Fields(q) {
			queued[h] = true
		}
	}
	var list []Summary
	for _, rec := range strings.Split(out, "\x1e") {
		x := strings.Split(strings.TrimSpace(rec), "\x1f")
		if len(x) < 8 {
			continue
		}
		hosts, _ := strconv.Atoi(strings.TrimSpace(x[5]))
		s := Summary{ID: x[0], Time: x[1], Command: x[2], User: strings.TrimSpace(x[3]), Exit: strings.TrimSpace(x[4]), Hosts: hosts, Queued: queued[strings.TrimSpace(x[7])]}
		if f.User != "" && s.User != f.User || f.Failed && s.Exit == "0" {
			continue
		}
		list = append(list, s)
		if f.N > 0 && len(list) == f.N {
			break
		}
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
