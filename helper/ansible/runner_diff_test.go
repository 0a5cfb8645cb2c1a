package ansible

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The differential test of ops play's runner against ansible-playbook
// itself: the same playbook on the same five hosts, each a local
// connection (ansible_connection=local; ops play runs the commands with
// sh on this machine), then the same PLAY RECAP per host, the same task
// banners in the same order, the same marks (files named after each
// host) and the same exit code.

// shExec runs each command with sh here.
type shExec struct{}

func (shExec) Exec(ctx context.Context, host string, r ExecRequest) ExecResult {
	cmd := exec.CommandContext(ctx, "sh", "-c", r.Line)
	cmd.Stdin = bytes.NewReader(r.Stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		return ExecResult{Msg: err.Error()}
	}
	return ExecResult{Reached: true, RC: cmd.ProcessState.ExitCode(), Stdout: out.String(), Stderr: errb.String()}
}

var diffRecapRe = regexp.MustCompile(`(?m)^(\S+)\s+:\s+(ok=\d+\s+changed=\d+\s+unreachable=\d+\s+failed=\d+\s+skipped=\d+\s+rescued=\d+\s+ignored=\d+)`)
var bannerRe = regexp.MustCompile(`(?m)^(TASK \[.*\]|PLAY \[.*\]|NO MORE HOSTS LEFT) \*+$`)

func diffRecap(out string) string {
	i := strings.LastIndex(out, "PLAY RECAP")
	if i < 0 {
		return ""
	}
	var lines []string
	for _, m := range diffRecapRe.FindAllStringSubmatch(out[i:], -1) {
		lines = append(lines, m[1]+" "+strings.Join(strings.Fields(m[2]), " "))
	}
	return strings.Join(lines, "\n")
}

func banners(out string) string {
	var b []string
	for _, m := range bannerRe.FindAllStringSubmatch(out, -1) {
		b = append(b, m[1])
	}
	return strings.Join(b, "\n")
}

// itemLines are the per-item result lines (without a failure's JSON),
// sorted: hosts report in the order they finish.
func itemLines(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "(item=") {
			continue
		}
		if i := strings.Index(l, ") => {"); i >= 0 {
			l = l[:i+1]
		}
		lines = append(lines, strings.TrimRight(l, " "))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func markList(dir string) string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// diffPlay runs playbook under both and compares; args are
// ansible-playbook's (-t, --skip-tags, -C, --start-at-task).
func diffPlay(t *testing.T, playbook string, args []string, o RunOptions, files ...string) {
	t.Helper()
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Skip("ansible-playbook is not installed (.ci/run installs ansible-core)")
	}
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts")
	var ini strings.Builder
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&ini, "h%d ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n", i)
	}
	os.WriteFile(inv, []byte(ini.String()), 0o644)
	cfg := filepath.Join(dir, "ansible.cfg")
	os.WriteFile(cfg, []byte("[defaults]\n"), 0o644)
	for i := 0; i+1 < len(files); i += 2 {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, files[i])), 0o755)
		os.WriteFile(filepath.Join(dir, files[i]), []byte(files[i+1]), 0o644)
	}
	pbPath := filepath.Join(dir, "pb.yml")
	os.WriteFile(pbPath, []byte(playbook), 0o644)

	ansMarks, opsMarks := filepath.Join(dir, "ansible"), filepath.Join(dir, "ops")
	os.Mkdir(ansMarks, 0o755)
	os.Mkdir(opsMarks, 0o755)

	cmd := exec.Command("ansible-playbook", append([]string{"-i", inv, "-e", "mark_dir=" + ansMarks}, append(args, pbPath)...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"), "ANSIBLE_NOCOLOR=1",
		"ANSIBLE_FORCE_COLOR=0", "ANSIBLE_RETRY_FILES_ENABLED=0", "ANSIBLE_CONFIG="+cfg, "HOME="+dir)
	aout, _ := cmd.CombinedOutput()
	acode := cmd.ProcessState.ExitCode()

	pb, err := LoadPlaybook(pbPath, false)
	if err != nil {
		t.Fatalf("ops play refuses the playbook: %v", err)
	}
	invOps, err := Open(context.Background(), Options{Sources: []string{inv}, Basedir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o.Out = &out
	o.ScriptBase = dir
	if o.ExtraVars == nil {
		o.ExtraVars = map[string]any{}
	}
	o.ExtraVars["mark_dir"] = opsMarks
	recap, err := RunPlaybook(context.Background(), invOps, pb, shExec{}, o)
	if err != nil {
		t.Fatalf("ops play: %v", err)
	}
	recap.Print(&out)
	oout := out.String()
	code := recap.Exit()

	if diffRecap(string(aout)) == "" {
		t.Fatalf("no recap from ansible-playbook:\n%s", aout)
	}
	if a, g := diffRecap(string(aout)), diffRecap(oout); a != g {
		t.Errorf("recap:\nops play:\n%s\nansible-playbook:\n%s", g, a)
	}
	if a, g := banners(string(aout)), banners(oout); a != g {
		t.Errorf("banners:\nops play:\n%s\nansible-playbook:\n%s", g, a)
	}
	if a, g := markList(ansMarks), strings.ReplaceAll(markList(opsMarks), opsMarks, ansMarks); a != g {
		t.Errorf("marks:\nops play:         %s\nansible-playbook: %s", g, a)
	}
	if acode != code {
		t.Errorf("exit: ops play %d, ansible-playbook %d", code, acode)
	}
	if a, g := itemLines(string(aout)), itemLines(oout); a != g {
		t.Errorf("loop items:\nops play:\n%s\nansible-playbook:\n%s", g, a)
	}
	if t.Failed() {
		t.Logf("ops play:\n%s\nansible-playbook:\n%s", oout, aout)
	}
}

const dhead = "- hosts: all\n  gather_facts: false\n"

func TestDiffBlocks(t *testing.T) {
	for _, tc := range []struct {
		name, pb string
		args     []string
		o        RunOptions
	}{
		{"rescued", dhead + `  tasks:
    - name: a block
      block:
        - name: fails_on_h2_h4
          raw: "case {{ inventory_hostname }} in h2|h4) exit 3;; esac; touch {{ mark_dir }}/{{ inventory_hostname }}-one"
        - name: after the failure
          raw: touch {{ mark_dir }}/{{ inventory_hostname }}-two
      rescue:
        - name: rescue
          raw: touch {{ mark_dir }}/{{ inventory_hostname }}-rescued-{{ ansible_failed_task.name }}-{{ ansible_failed_result.rc }}
      always:
        - name: always
          raw: touch {{ mark_dir }}/{{ inventory_hostname }}-always
    - name: everyone goes on
      raw: touch {{ mark_dir }}/{{ inventory_hostname }}-on
`, nil, RunOptions{}},
		{"rescue fails", dhead + `  tasks:
    - block:
        - raw: "case {{ inventory_hostname }} in h1|h3) exit 1;; esac"
      rescue:
        - raw: "case {{ inventory_hostname }} in h3) exit 1;; esac; touch {{ mark_dir }}/{{ inventory_hostname }}-r"
      always:
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-a
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-after
`, nil, RunOptions{}},
		{"no rescue, always", dhead + `  tasks:
    - block:
        - raw: "case {{ inventory_hostname }} in h5) exit 1;; esac"
      always:
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-a
        - raw: "case {{ inventory_hostname }} in h4) exit 1;; esac"
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-after
`, nil, RunOptions{}},
		{"nested", dhead + `  tasks:
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-first
    - block:
        - block:
            - raw: "case {{ inventory_hostname }} in h1|h2) exit 1;; esac"
          rescue:
            - raw: "case {{ inventory_hostname }} in h2) exit 1;; esac; touch {{ mark_dir }}/{{ inventory_hostname }}-inner"
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-mid
      rescue:
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-outer
      always:
        - block:
            - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-always
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-last
`, nil, RunOptions{}},
		{"keywords inherited", dhead + `  vars:
    where: play
  tasks:
    - block:
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-{{ where }}-{{ extra }}
          vars:
            extra: task
        - raw: exit 1
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-afterfail
          tags: [deep]
      when: inventory_hostname != 'h3'
      vars:
        where: block
        extra: block
      ignore_errors: true
      tags: [outer]
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-{{ where }}
`, nil, RunOptions{}},
		{"tags on a block", dhead + `  tasks:
    - block:
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-in
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-deep
          tags: [deep]
      tags: [outer]
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-untagged
`, []string{"-t", "deep"}, RunOptions{Tags: []string{"deep"}}},
		{"any_errors_fatal spares the rescuing", dhead + `  tasks:
    - block:
        - raw: "case {{ inventory_hostname }} in h2) exit 1;; esac"
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-b
      rescue:
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-r
    - block:
        - raw: "case {{ inventory_hostname }} in h3) exit 1;; esac"
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-c
      any_errors_fatal: true
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-never
`, nil, RunOptions{}},
		{"any_errors_fatal with a rescue", dhead + `  any_errors_fatal: true
  tasks:
    - block:
        - raw: "case {{ inventory_hostname }} in h2) exit 1;; esac"
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-b
      rescue:
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-r
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-after
`, nil, RunOptions{}},
		{"run_once in a block", dhead + `  tasks:
    - block:
        - raw: exit 1
          run_once: true
      rescue:
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-r
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-after
`, nil, RunOptions{}},
		{"serial, max_fail and rescue", dhead + `  serial: 2
  max_fail_percentage: 40
  tasks:
    - block:
        - raw: "case {{ inventory_hostname }} in h1|h3|h4) exit 1;; esac"
      rescue:
        - raw: "case {{ inventory_hostname }} in h3|h4) exit 1;; esac; touch {{ mark_dir }}/{{ inventory_hostname }}-r"
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-after
- hosts: all
  gather_facts: false
  tasks:
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-play2
`, nil, RunOptions{}},
		{"failed earlier, out of later plays", dhead + `  tasks:
    - block:
        - raw: "case {{ inventory_hostname }} in h1) exit 1;; esac"
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-p1
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-p2
      rescue:
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-p2r
`, nil, RunOptions{}},
		{"end_host in a block", dhead + `  tasks:
    - block:
        - meta: end_host
          when: inventory_hostname == 'h2'
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-b
      always:
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-a
`, nil, RunOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) { diffPlay(t, tc.pb, tc.args, tc.o) })
	}
}

func TestDiffIncludes(t *testing.T) {
	files := []string{
		"tasks/inc.yml", `- raw: touch {{ mark_dir }}/{{ inventory_hostname }}-inc-{{ v | default('none') }}
- raw: "case {{ inventory_hostname }} in h2) exit 1;; esac"
- import_tasks: nested.yml
`,
		"tasks/nested.yml", `- name: nested
  raw: touch {{ mark_dir }}/{{ inventory_hostname }}-nested
  tags: [n]
`,
		"other.yml", dhead + `  tasks:
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-other
`,
	}
	for _, tc := range []struct {
		name, pb string
		args     []string
		o        RunOptions
	}{
		{"import and include", dhead + `  tasks:
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-first
    - include_tasks: tasks/inc.yml
      when: inventory_hostname != 'h3'
      vars:
        v: included
    - import_tasks: tasks/inc.yml
      when: inventory_hostname != 'h4'
      vars:
        v: imported
    - block:
        - include_tasks: tasks/nested.yml
      rescue:
        - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-never
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-last
`, nil, RunOptions{}},
		{"include in a rescue", dhead + `  tasks:
    - block:
        - raw: "case {{ inventory_hostname }} in h1|h5) exit 1;; esac"
      rescue:
        - include_tasks: tasks/nested.yml
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-after
`, nil, RunOptions{}},
		{"import_playbook", `- import_playbook: other.yml
` + dhead + `  tasks:
    - import_tasks: tasks/nested.yml
- import_playbook: other.yml
  tags: [n]
`, []string{"-t", "n"}, RunOptions{Tags: []string{"n"}}},
	} {
		t.Run(tc.name, func(t *testing.T) { diffPlay(t, tc.pb, tc.args, tc.o, files...) })
	}
}

func TestDiffStartAtTask(t *testing.T) {
	pb := dhead + `  serial: 2
  tasks:
    - name: first
      raw: touch {{ mark_dir }}/{{ inventory_hostname }}-first
    - block:
        - name: in the block
          raw: "case {{ inventory_hostname }} in h1) exit 1;; esac; touch {{ mark_dir }}/{{ inventory_hostname }}-b"
        - name: second in the block
          raw: touch {{ mark_dir }}/{{ inventory_hostname }}-b2
      rescue:
        - name: rescue
          raw: touch {{ mark_dir }}/{{ inventory_hostname }}-r
    - name: last
      raw: touch {{ mark_dir }}/{{ inventory_hostname }}-last
- hosts: all
  gather_facts: false
  tasks:
    - name: next play
      raw: touch {{ mark_dir }}/{{ inventory_hostname }}-next
`
	for _, at := range []string{"in the block", "second*", "next play"} {
		t.Run(at, func(t *testing.T) {
			diffPlay(t, pb, []string{"--start-at-task", at}, RunOptions{StartAtTask: at})
		})
	}
	p := writePlaybook(t, t.TempDir(), "pb.yml", pb)
	loaded, err := LoadPlaybook(p, false)
	if err != nil {
		t.Fatal(err)
	}
	// Where ansible-playbook says "No matching task" (a rescue task is
	// never met on the way).
	for at, want := range map[string]bool{"rescue": false, "nothing": false, "last": true, "next*": true, "[fl]irst": true} {
		if got := loaded.StartAtMatches(at, nil, nil); got != want {
			t.Errorf("StartAtMatches(%q) = %v", at, got)
		}
	}
	if loaded.StartAtMatches("last", []string{"x"}, nil) {
		t.Errorf("StartAtMatches sees a task the tags leave out")
	}
}

func TestFnmatch(t *testing.T) {
	for _, c := range []struct {
		name, pat string
		want      bool
	}{
		{"restart web", "restart*", true}, {"restart web", "restart", false}, {"a/b", "a*", true},
		{"x1", "x[0-9]", true}, {"xa", "x[!0-9]", true}, {"x1", "x[!0-9]", false}, {"x[", "x[", true},
		{"a.b", "a?b", true}, {"a.b", "a.c", false},
	} {
		if got := fnmatch(c.name, c.pat); got != c.want {
			t.Errorf("fnmatch(%q, %q) = %v", c.name, c.pat, got)
		}
	}
}

// The rolling-restart example of playbooks/, one host broken: it is put
// back and counted failed, and the rollout stops after its batch.
func TestDiffRollingRestart(t *testing.T) {
	b, err := os.ReadFile("../../playbooks/rolling-restart.yml")
	if err != nil {
		t.Fatal(err)
	}
	pb := strings.ReplaceAll(string(b), "state_dir: /var/tmp/ops-rolling", "state_dir: \"{{ mark_dir }}\"")
	// h3 is broken: a marker the health check sees, made by a first play.
	pb = dhead + "  tasks:\n    - raw: touch {{ mark_dir }}/h3.broken\n      run_once: true\n" + pb
	diffPlay(t, pb, nil, RunOptions{})
}

func TestDiffLoops(t *testing.T) {
	for _, tc := range []struct {
		name, pb string
	}{
		{"with_items flattens one level", dhead + `  vars:
    more: [d, [e]]
  tasks:
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-{{ item }}
      with_items: [a, [b, c]]
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-more-{{ item | string | regex_replace("[^a-z]", "") }}
      with_items: "{{ more }}"
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-one-{{ item }}
      with_items: single
`},
		{"loop_control", dhead + `  tasks:
    - name: loop_var, index_var, label
      raw: touch {{ mark_dir }}/{{ inventory_hostname }}-{{ pkg.name }}-{{ idx }}
      loop: [{name: nginx, v: 1}, {name: redis, v: 2}]
      loop_control:
        loop_var: pkg
        index_var: idx
        label: "{{ pkg.name }}"
      register: r
    - name: what the loop registered
      raw: touch {{ mark_dir }}/{{ inventory_hostname }}-reg-{{ r.results[0].ansible_loop_var }}_{{ r.results[1].pkg.name }}-{{ r.results[1].idx }}-{{ r.results[1].ansible_index_var }}
    - name: extended
      raw: "touch {{ mark_dir }}/{{ inventory_hostname }}-ext-{{ item }}-{{ ansible_loop.index }}-{{ ansible_loop.revindex0 }}-{{ ansible_loop.first }}-{{ ansible_loop.last }}-{{ ansible_loop.length }}-{{ ansible_loop.allitems | join('') }}-{{ ansible_loop.previtem | default('none') }}"
      loop: [x, y, z]
      loop_control:
        extended: true
        pause: 0.2
    - name: a dict item shown as Python shows it
      raw: "true"
      loop: [{n: 1}]
    - name: failing and skipped items
      raw: "test {{ item }} != bad"
      loop: [good, bad, skip]
      when: item != 'skip'
      ignore_errors: true
`},
	} {
		t.Run(tc.name, func(t *testing.T) { diffPlay(t, tc.pb, nil, RunOptions{}) })
	}
}

func TestDiffPauseAndWaitForConnection(t *testing.T) {
	pb := dhead + `  tasks:
    - name: a pause runs once, for the first host
      pause:
        seconds: 1
      register: p
    - name: only the first host has its result
      raw: touch {{ mark_dir }}/{{ inventory_hostname }}-p-{{ p.stdout | default('none') | regex_replace(' ', '_') }}
    - name: wait
      wait_for_connection:
        timeout: 120
        sleep: 1
      register: w
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-w-{{ w.elapsed is defined }}-{{ w.changed }}
    - name: pause minutes
      pause: minutes=0
`
	diffPlay(t, pb, nil, RunOptions{})
	t.Run("check mode skips wait_for_connection", func(t *testing.T) {
		diffPlay(t, dhead+`  tasks:
    - wait_for_connection: timeout=5
      register: w
    - raw: touch {{ mark_dir }}/{{ inventory_hostname }}-{{ w.skipped | default(false) }}
      check_mode: false
`, []string{"-C"}, RunOptions{Check: true})
	})
}
