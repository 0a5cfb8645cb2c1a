package ansible

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// downExec is a host that answers only after it was redialled `after`
// times (a reboot); it counts the redials and the commands.
type downExec struct {
	mu      sync.Mutex
	after   map[string]int
	redials map[string]int
	lines   []string
}

func (d *downExec) Exec(_ context.Context, host string, r ExecRequest) ExecResult {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lines = append(d.lines, host+": "+r.Line)
	if d.redials[host] < d.after[host] {
		return ExecResult{Msg: "connect: connection refused"}
	}
	return ExecResult{Reached: true}
}

func (d *downExec) Redial(host, _ string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.redials[host]++
}

// wait_for_connection redials until the host answers, then the play goes
// on; a host that does not answer within timeout fails with the last
// error, and is not unreachable.
func TestRunnerWaitForConnection(t *testing.T) {
	d := &downExec{after: map[string]int{"h1": 1, "h2": 2, "h3": 1 << 30}, redials: map[string]int{}}
	recap, out := runWith(t, p2head+`    - wait_for_connection: {timeout: 3, sleep: 1, connect_timeout: 1}
      register: w
    - debug: {msg: "{{ w.elapsed }}"}
`, d, RunOptions{})
	if d.redials["h1"] != 1 || d.redials["h2"] != 2 {
		t.Errorf("redials %v, want h1 1 and h2 2 (one per attempt)", d.redials)
	}
	if !strings.Contains(out, `fatal: [h3]: FAILED! => {"changed":false,"elapsed":3,"failed":true,"msg":"timed out waiting for ping module test: connect: connection refused"}`) {
		t.Errorf("h3's failure:\n%s", out)
	}
	for _, l := range d.lines {
		if !strings.HasSuffix(l, ": true") {
			t.Errorf("ran %q, want true", l)
		}
	}
	wantRecap(t, recap, out, map[string]string{
		"h1": "ok=2 changed=0 unreachable=0 failed=0 skipped=0 ignored=0",
		"h2": "ok=2 changed=0 unreachable=0 failed=0 skipped=0 ignored=0",
		"h3": "ok=0 changed=0 unreachable=0 failed=1 skipped=0 ignored=0",
	})
}

// A pause that reads an answer asks through RunOptions.Prompt, once, and
// registers what was typed on the first host; Prompts finds it (and one
// in an included file) so that a run without a terminal is refused first.
func TestRunnerPausePrompt(t *testing.T) {
	var asked int
	o := RunOptions{Prompt: func(_ context.Context, _ string, echo bool) (string, error) {
		asked++
		if echo {
			t.Error("echo: false asked with echo")
		}
		return "yes", nil
	}}
	pbText := p2head + `    - name: confirm
      pause: {prompt: "Go on?", echo: false}
      register: answer
    - debug: {msg: "{{ answer.user_input | default('none') }}"}
`
	recap, out := runWith(t, pbText, &fakeExec{}, o)
	if asked != 1 {
		t.Errorf("asked %d times", asked)
	}
	if !strings.Contains(out, "[confirm]\nGo on? (output is hidden):\n") || !strings.Contains(out, `"msg": "yes"`) || !strings.Contains(out, `"msg": "none"`) {
		t.Errorf("output:\n%s", out)
	}
	wantRecap(t, recap, out, map[string]string{
		"h1": "ok=2 changed=0 unreachable=0 failed=0 skipped=0 ignored=0",
		"h2": "ok=1 changed=0 unreachable=0 failed=0 skipped=0 ignored=0",
	})

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "inc.yml"), []byte("- pause:\n"), 0o644)
	for _, c := range []struct {
		text string
		want int
	}{
		{pbText, 1},
		{p2head + "    - pause: seconds=1\n", 0},
		{p2head + "    - pause: {seconds: 1, prompt: shown}\n", 1},
		{p2head + "    - include_tasks: inc.yml\n", 1},
	} {
		p := filepath.Join(dir, "pb.yml")
		os.WriteFile(p, []byte(c.text), 0o644)
		pb, err := LoadPlaybook(p, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(pb.Prompts()); got != c.want {
			t.Errorf("%q: %d prompting pauses, want %d", c.text, got, c.want)
		}
	}
}

// ignore_unreachable on a task: the unreachable host is counted ok and
// ignored and stays in the play; its next task finds it unreachable.
func TestRunnerIgnoreUnreachableOnATask(t *testing.T) {
	d := &downExec{after: map[string]int{"h2": 1}, redials: map[string]int{}}
	recap, out := runWith(t, p2head+"    - raw: one\n      ignore_unreachable: true\n    - raw: two\n    - raw: three\n", d, RunOptions{})
	if n := strings.Count(strings.Join(d.lines, "\n"), "h2: "); n != 2 {
		t.Errorf("h2 ran %d commands, want 2 (one ignored, one unreachable):\n%v", n, d.lines)
	}
	wantRecap(t, recap, out, map[string]string{
		"h1": "ok=3 changed=3 unreachable=0 failed=0 skipped=0 ignored=0",
		"h2": "ok=1 changed=0 unreachable=1 failed=0 skipped=0 ignored=1",
	})
}
