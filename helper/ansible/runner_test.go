package ansible

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeExec answers every command: rc 1 on hosts named in fail, 0
// elsewhere, and says which host it ran on.
type fakeExec struct {
	mu    sync.Mutex
	fail  map[string]bool
	lines []string
}

func (f *fakeExec) Exec(_ context.Context, host string, c ExecRequest) ExecResult {
	f.mu.Lock()
	f.lines = append(f.lines, host+": "+c.Line)
	f.mu.Unlock()
	rc := 0
	if f.fail[host] {
		rc = 1
	}
	return ExecResult{Reached: true, RC: rc, Stdout: "on " + host + "\n"}
}

func runFake(t *testing.T, playbook string, o RunOptions, fail ...string) (*Recap, string) {
	t.Helper()
	f := &fakeExec{fail: map[string]bool{}}
	for _, h := range fail {
		f.fail[h] = true
	}
	return runWith(t, playbook, f, o)
}

// runWith runs playbook on h1, h2 and h3 with ex; the output is
// returned unless o.Out takes it. s.sh beside the playbook is a script.
func runWith(t *testing.T, playbook string, ex Executor, o RunOptions) (*Recap, string) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "pb.yml")
	os.WriteFile(p, []byte(playbook), 0o644)
	os.WriteFile(filepath.Join(dir, "s.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	pb, err := LoadPlaybook(p, false)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := Open(context.Background(), Options{Sources: []string{"h1,h2,h3,"}, Basedir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if o.Out == nil {
		o.Out = &out
	}
	if o.ScriptBase == "" {
		o.ScriptBase = dir
	}
	recap, err := RunPlaybook(context.Background(), inv, pb, ex, o)
	if err != nil {
		t.Fatal(err)
	}
	return recap, out.String()
}

// --fold prints hosts whose results read alike on one line.
func TestRunnerFold(t *testing.T) {
	_, out := runFake(t, "- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: 'true'\n", RunOptions{Fold: true}, "h2")
	if !strings.Contains(out, "changed: [h1,h3 (2)]\n") || !strings.Contains(out, "fatal: [h2]: FAILED!") {
		t.Errorf("%s", out)
	}
}

// --json: one object per host per task, with its status.
func TestRunnerJSON(t *testing.T) {
	var js bytes.Buffer
	_, _ = runFake(t, "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: one\n      raw: 'true'\n      ignore_errors: true\n    - debug: {msg: hi}\n", RunOptions{JSON: &js}, "h2")
	got := map[string]string{}
	dec := json.NewDecoder(&js)
	for dec.More() {
		var o struct{ Task, Host, Status string }
		if err := dec.Decode(&o); err != nil {
			t.Fatal(err)
		}
		got[o.Host+"/"+o.Task] = o.Status
	}
	want := map[string]string{"h1/one": "changed", "h2/one": "ignored", "h3/one": "changed", "h1/": "ok", "h2/": "ok", "h3/": "ok"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

// A registered result is another host's to read through hostvars once
// the task is done everywhere.
func TestRunnerHostvarsSeeRegistered(t *testing.T) {
	recap, out := runFake(t, `- hosts: all
  gather_facts: false
  tasks:
    - raw: echo
      register: r
    - debug:
        msg: "{{ hostvars['h2']['r'].stdout | trim }} and {{ ansible_play_hosts | length }}"
`, RunOptions{})
	if strings.Count(out, `"msg": "on h2 and 3"`) != 3 || recap.Stats["h1"].Ok != 2 {
		t.Errorf("%s", out)
	}
}

// script: the file goes on stdin into a private copy run with the
// arguments as written; creates/removes are checked first.
func TestRunnerScript(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.sh"), []byte("#!/bin/sh\necho hello \"$1\"\n"), 0o755)
	p := filepath.Join(dir, "pb.yml")
	os.WriteFile(p, []byte("- hosts: h1\n  gather_facts: false\n  tasks:\n    - script: hello.sh \"two words\" {{ inventory_hostname }}\n      args:\n        creates: /nonexistent\n"), 0o644)
	pb, err := LoadPlaybook(p, false)
	if err != nil {
		t.Fatal(err)
	}
	inv, _ := Open(context.Background(), Options{Sources: []string{"h1,"}, Basedir: dir})
	f := &recordExec{}
	if _, err := RunPlaybook(context.Background(), inv, pb, f, RunOptions{ScriptBase: dir, Out: &bytes.Buffer{}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.req.Line, `"$t" "two words" h1 </dev/null`) || !strings.Contains(f.req.Line, "if [ -e /nonexistent ]") ||
		!strings.Contains(f.req.Line, "mktemp") || string(f.req.Stdin) != "#!/bin/sh\necho hello \"$1\"\n" {
		t.Errorf("line %q, stdin %q", f.req.Line, f.req.Stdin)
	}
}

type recordExec struct{ req ExecRequest }

func (r *recordExec) Exec(_ context.Context, _ string, c ExecRequest) ExecResult {
	r.req = c
	return ExecResult{Reached: true}
}
