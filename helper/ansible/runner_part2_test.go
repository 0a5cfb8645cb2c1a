package ansible

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// countExec counts each host's commands: stdout is the count so far
// (per host), rc 1 on hosts in fail; it records every line.
type countExec struct {
	mu    sync.Mutex
	n     map[string]int
	fail  map[string]bool
	lines []string
}

func (c *countExec) Exec(_ context.Context, host string, r ExecRequest) ExecResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[host]++
	c.lines = append(c.lines, host+": "+r.Line)
	rc := 0
	if c.fail[host] {
		rc = 1
	}
	return ExecResult{Reached: true, RC: rc, Stdout: strconv.Itoa(c.n[host]) + "\n"}
}

func runCount(t *testing.T, playbook string, o RunOptions, fail ...string) (*Recap, string, *countExec) {
	t.Helper()
	c := &countExec{n: map[string]int{}, fail: map[string]bool{}}
	for _, h := range fail {
		c.fail[h] = true
	}
	recap, out := runWith(t, playbook, c, o)
	return recap, out, c
}

func recapLine(r *Recap, h string) string {
	s := r.Stats[h]
	if s == nil {
		return "absent"
	}
	return strings.Join([]string{"ok=" + strconv.Itoa(s.Ok), "changed=" + strconv.Itoa(s.Changed), "unreachable=" + strconv.Itoa(s.Unreachable),
		"failed=" + strconv.Itoa(s.Failed), "skipped=" + strconv.Itoa(s.Skipped), "ignored=" + strconv.Itoa(s.Ignored)}, " ")
}

func wantRecap(t *testing.T, r *Recap, out string, want map[string]string) {
	t.Helper()
	for h, w := range want {
		if got := recapLine(r, h); got != w {
			t.Errorf("%s: %s, want %s\n%s", h, got, w, out)
		}
	}
}

const p2head = "- hosts: all\n  gather_facts: false\n  tasks:\n"

// until: retried until the condition holds (attempts registered, one
// FAILED - RETRYING line per retry); never met: failed after retries+1
// attempts with attempts = retries.
func TestRunnerUntil(t *testing.T) {
	recap, out, c := runCount(t, p2head+`    - name: count
      raw: count
      register: r
      until: r.stdout | trim | int >= 3
      delay: 0
    - debug:
        msg: "{{ r.attempts }}"
    - name: never
      raw: count
      register: n
      until: false
      retries: 2
      delay: 0
      ignore_errors: true
    - debug:
        msg: "{{ n.attempts }} {{ n is failed }}"
`, RunOptions{})
	if c.n["h1"] != 3+3 {
		t.Errorf("h1 ran %d commands, want 6", c.n["h1"])
	}
	for _, w := range []string{"FAILED - RETRYING: [h1]: count (3 retries left).", "FAILED - RETRYING: [h1]: count (2 retries left).",
		`"msg": 3`, "FAILED - RETRYING: [h2]: never (2 retries left).", "FAILED - RETRYING: [h2]: never (1 retries left).", `"msg": "2 True"`} {
		if !strings.Contains(out, w) {
			t.Errorf("no %q in\n%s", w, out)
		}
	}
	if strings.Contains(out, "count (1 retries left)") {
		t.Errorf("a retry too many:\n%s", out)
	}
	wantRecap(t, recap, out, map[string]string{"h1": "ok=4 changed=2 unreachable=0 failed=0 skipped=0 ignored=1"})
}

// The default: 3 retries, so 4 attempts, then failed with attempts 3.
func TestRunnerUntilDefaultRetries(t *testing.T) {
	recap, out, c := runCount(t, p2head+"    - raw: count\n      register: r\n      until: r.rc == 7\n      delay: 0\n", RunOptions{})
	if c.n["h1"] != 4 || !strings.Contains(out, `"attempts":3`) {
		t.Errorf("%d attempts\n%s", c.n["h1"], out)
	}
	wantRecap(t, recap, out, map[string]string{"h1": "ok=0 changed=0 unreachable=0 failed=1 skipped=0 ignored=0"})
}

// run_once: the first host runs it and alone counts it; its result is
// registered on every host of the batch.
func TestRunnerRunOnce(t *testing.T) {
	recap, out, c := runCount(t, p2head+`    - raw: count
      run_once: true
      register: once
    - debug:
        msg: "{{ inventory_hostname }} {{ once.stdout | trim }}"
`, RunOptions{})
	if len(c.lines) != 1 || !strings.HasPrefix(c.lines[0], "h1: ") {
		t.Errorf("%v", c.lines)
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		if !strings.Contains(out, `"msg": "`+h+` 1"`) {
			t.Errorf("no registered result on %s:\n%s", h, out)
		}
	}
	wantRecap(t, recap, out, map[string]string{
		"h1": "ok=2 changed=1 unreachable=0 failed=0 skipped=0 ignored=0",
		"h2": "ok=1 changed=0 unreachable=0 failed=0 skipped=0 ignored=0",
	})
}

// A failed run_once task fails the batch (counted once) and ends the
// playbook: the next play does not run.
func TestRunnerRunOnceFails(t *testing.T) {
	recap, out, c := runCount(t, p2head+"    - raw: count\n      run_once: true\n    - raw: after\n- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: next\n", RunOptions{}, "h1")
	if len(c.lines) != 1 {
		t.Errorf("%v", c.lines)
	}
	wantRecap(t, recap, out, map[string]string{
		"h1": "ok=0 changed=0 unreachable=0 failed=1 skipped=0 ignored=0",
		"h2": "ok=0 changed=0 unreachable=0 failed=0 skipped=0 ignored=0",
	})
}

// set_fact: templated, visible to later tasks (and through hostvars),
// ok and never changed; "yes" becomes a boolean; task vars sit below it.
func TestRunnerSetFact(t *testing.T) {
	recap, out, _ := runCount(t, p2head+`    - set_fact:
        who: "{{ inventory_hostname }}-x"
        flag: "yes"
        cacheable: true
    - raw: "echo {{ who }}"
      when: flag and who == 'h2-x'
    - debug:
        msg: "{{ hostvars['h3'].who }} {{ flag == true }}"
      vars:
        who: task
`, RunOptions{})
	if strings.Count(out, `"msg": "h3-x True"`) != 3 {
		t.Errorf("%s", out)
	}
	wantRecap(t, recap, out, map[string]string{
		"h1": "ok=2 changed=0 unreachable=0 failed=0 skipped=1 ignored=0",
		"h2": "ok=3 changed=1 unreachable=0 failed=0 skipped=0 ignored=0",
	})
}

// Task vars: over the play's, seen by when, the module and the loop.
func TestRunnerTaskVars(t *testing.T) {
	_, out, c := runCount(t, `- hosts: all
  gather_facts: false
  vars:
    a: play
  tasks:
    - raw: "echo {{ a }} {{ b }} {{ item }}"
      loop: "{{ items }}"
      when: inventory_hostname == 'h1'
      vars:
        a: task
        b: "{{ a }}-b"
        items: [1]
    - raw: "echo {{ a }}"
      when: inventory_hostname == 'h1'
`, RunOptions{})
	if len(c.lines) != 2 || c.lines[0] != "h1: echo task task-b 1" || c.lines[1] != "h1: echo play" {
		t.Errorf("%q\n%s", c.lines, out)
	}
}

// assert: ok with its message shown, failed on the host where a
// condition is false; quiet shows nothing.
func TestRunnerAssert(t *testing.T) {
	recap, out, _ := runCount(t, p2head+`    - assert:
        that:
          - inventory_hostname != 'h2'
          - "'h' in inventory_hostname"
        fail_msg: "{{ inventory_hostname }} is not wanted"
        success_msg: fine
    - assert:
        that: true
        quiet: true
`, RunOptions{})
	for _, w := range []string{"ok: [h1] => {\n    \"changed\": false,\n    \"msg\": \"fine\"\n}",
		"fatal: [h2]: FAILED! => {\n    \"assertion\": \"inventory_hostname != 'h2'\",\n    \"changed\": false,\n    \"evaluated_to\": false,\n    \"msg\": \"h2 is not wanted\"\n}",
		"ok: [h3]\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("no %q in\n%s", w, out)
		}
	}
	wantRecap(t, recap, out, map[string]string{
		"h1": "ok=2 changed=0 unreachable=0 failed=0 skipped=0 ignored=0",
		"h2": "ok=0 changed=0 unreachable=0 failed=1 skipped=0 ignored=0",
	})
}

// meta: noop and end_host count nothing; end_host stops its host only
// (not failed); end_play ends the play, and the next play runs.
func TestRunnerMeta(t *testing.T) {
	recap, out, c := runCount(t, p2head+`    - meta: noop
    - meta: end_host
      when: inventory_hostname == 'h2'
    - raw: one
    - meta: end_play
    - raw: never
- hosts: h2
  gather_facts: false
  tasks:
    - raw: two
`, RunOptions{})
	var lines []string
	for _, l := range c.lines {
		lines = append(lines, strings.Fields(l)[0]+strings.Fields(l)[1])
	}
	if strings.Join(lines, " ") != "h1:one h3:one h2:two" && strings.Join(lines, " ") != "h3:one h1:one h2:two" {
		t.Errorf("%v\n%s", c.lines, out)
	}
	if strings.Count(out, "TASK [meta] ") != 3+3+1 || !strings.Contains(out, "skipping: [h1]") {
		t.Errorf("%s", out)
	}
	wantRecap(t, recap, out, map[string]string{
		"h1": "ok=1 changed=1 unreachable=0 failed=0 skipped=0 ignored=0",
		"h2": "ok=1 changed=1 unreachable=0 failed=0 skipped=0 ignored=0",
	})
}

// -C: raw is skipped, script too (without creates/removes), check_mode:
// false runs the task, ansible_check_mode is true; script with creates
// checks on the host and is changed without running.
func TestRunnerCheckMode(t *testing.T) {
	recap, out, c := runCount(t, p2head+`    - raw: skipped
    - script: s.sh
    - raw: "echo {{ ansible_check_mode }}"
      check_mode: false
    - script: s.sh
      args:
        creates: /nonexistent
`, RunOptions{Check: true})
	if len(c.lines) != 6 || !strings.HasSuffix(c.lines[0], ": echo True") && !strings.Contains(strings.Join(c.lines, "\n"), "echo True") {
		t.Errorf("%q", c.lines)
	}
	for _, l := range c.lines {
		if strings.Contains(l, "mktemp") {
			t.Errorf("the script ran: %s", l)
		}
	}
	wantRecap(t, recap, out, map[string]string{"h1": "ok=2 changed=2 unreachable=0 failed=0 skipped=2 ignored=0"})
	// And a task's check_mode: true without -C.
	_, _, c = runCount(t, p2head+"    - raw: x\n      check_mode: true\n", RunOptions{})
	if len(c.lines) != 0 {
		t.Errorf("%q", c.lines)
	}
}
