package ansible

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func writePlaybook(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func boolp(b bool) *bool { return &b }

// acceptedPlaybooks are valid Ansible in ops play's subset; check looks
// at what the loader made of them. Each is also given to
// ansible-playbook --syntax-check.
var acceptedPlaybooks = []struct {
	name  string
	text  string
	check func(t *testing.T, pb *Playbook)
}{
	{"raw forms", `
- hosts: all
  gather_facts: false
  tasks:
    - raw: uptime
    - ansible.builtin.raw: echo  two   spaces
    - ansible.legacy.raw: "echo a=b"
    - raw: echo hi
      args:
        executable: /bin/bash
    - action: raw echo via action
    - raw: |
        echo one
          echo two
`, func(t *testing.T, pb *Playbook) {
		ts := leafTasks(pb.Plays[0].Tasks)
		want := []string{"uptime", "echo  two   spaces", "echo a=b", "echo hi", "echo via action", "echo one\n  echo two\n"}
		for i, w := range want {
			if ts[i].Module != "raw" || ts[i].FreeForm != w {
				t.Errorf("task %d: %q %q, want raw %q", i, ts[i].Module, ts[i].FreeForm, w)
			}
		}
		if ts[1].Action != "ansible.builtin.raw" || ts[0].Line != 5 || ts[5].Line != 12 {
			t.Errorf("action %q, lines %d %d", ts[1].Action, ts[0].Line, ts[5].Line)
		}
		if ts[3].Args["executable"] != "/bin/bash" {
			t.Errorf("args %v", ts[3].Args)
		}
	}},
	{"script forms", `
- hosts: web
  gather_facts: no
  tasks:
    - script: files/x.sh a "b c"
    - ansible.builtin.script:
        cmd: x.sh --flag
        creates: /tmp/done
    - script: x.sh creates=/tmp/y chdir=/tmp arg
    - script: x.sh
      args:
        removes: /tmp/z
`, func(t *testing.T, pb *Playbook) {
		ts := leafTasks(pb.Plays[0].Tasks)
		if ts[0].FreeForm != `files/x.sh a "b c"` || len(ts[0].Args) != 0 {
			t.Errorf("0: %q %v", ts[0].FreeForm, ts[0].Args)
		}
		if ts[1].FreeForm != "x.sh --flag" || ts[1].Args["creates"] != "/tmp/done" {
			t.Errorf("1: %q %v", ts[1].FreeForm, ts[1].Args)
		}
		if ts[2].FreeForm != "x.sh arg" || ts[2].Args["creates"] != "/tmp/y" || ts[2].Args["chdir"] != "/tmp" {
			t.Errorf("2: %q %v", ts[2].FreeForm, ts[2].Args)
		}
		if ts[3].Args["removes"] != "/tmp/z" {
			t.Errorf("3: %v", ts[3].Args)
		}
	}},
	{"debug and fail", `
- hosts: all
  gather_facts: false
  vars:
    who: world
  tasks:
    - debug: msg="hello {{ who }}"
    - debug: {var: who}
    - ansible.builtin.debug:
        msg: "{{ who | upper }}"
        verbosity: 1
    - debug:
    - fail: {msg: stop}
      when: who == "x"
    - ansible.builtin.fail:
`, func(t *testing.T, pb *Playbook) {
		ts := leafTasks(pb.Plays[0].Tasks)
		if ts[0].Module != "debug" || ts[0].Args["msg"] != "hello {{ who }}" {
			t.Errorf("0: %v", ts[0].Args)
		}
		if ts[1].Args["var"] != "who" || ts[2].Args["verbosity"] != 1 || len(ts[3].Args) != 0 {
			t.Errorf("1-3: %v %v %v", ts[1].Args, ts[2].Args, ts[3].Args)
		}
		if ts[4].Module != "fail" || ts[4].Args["msg"] != "stop" || !reflect.DeepEqual(ts[4].When, []string{`who == "x"`}) {
			t.Errorf("4: %v %v", ts[4].Args, ts[4].When)
		}
		if ts[5].Module != "fail" || ts[5].Action != "ansible.builtin.fail" {
			t.Errorf("5: %v", ts[5])
		}
		if pb.Plays[0].Vars["who"] != "world" {
			t.Errorf("vars %v", pb.Plays[0].Vars)
		}
	}},
	{"keywords", `
- name: the play
  hosts:
    - web
    - db
  become: yes
  become_user: admin
  remote_user: deploy
  gather_facts: False
  serial: [1, "30%"]
  max_fail_percentage: 25
  any_errors_fatal: true
  strategy: linear
  tags: deploy
  vars_files:
    - vars/common.yml
  vars:
    - a: 1
    - b: two
  pre_tasks:
    - raw: echo pre
  tasks:
    - name: t
      raw: echo t
      become: "no"
      become_user: root
      when:
        - a == 1
        - true
      register: out
      changed_when: false
      failed_when: out.rc != 0 and 'x' not in out.stdout
      ignore_errors: yes
      tags: a, b
      environment:
        X: "1"
      timeout: 30
    - raw: echo {{ item }}
      loop: [1, 2]
      ignore_errors: "{{ a == 1 }}"
      tags: [c, 5]
    - raw: echo
      loop: "{{ [1, 2] }}"
  post_tasks:
    - raw: echo post
`, func(t *testing.T, pb *Playbook) {
		p := pb.Plays[0]
		if p.Name != "the play" || p.Hosts != "web,db" || !*p.Become || p.BecomeUser != "admin" || p.RemoteUser != "deploy" {
			t.Errorf("play: %+v", p)
		}
		if *p.GatherFacts || !reflect.DeepEqual(p.Serial, []string{"1", "30%"}) || *p.MaxFailPercentage != 25 || !p.AnyErrorsFatal || p.Strategy != "linear" {
			t.Errorf("play: %+v", p)
		}
		if !reflect.DeepEqual(p.Tags, []string{"deploy"}) || !reflect.DeepEqual(p.VarsFiles, []string{"vars/common.yml"}) ||
			!reflect.DeepEqual(p.Vars, map[string]any{"a": 1, "b": "two"}) {
			t.Errorf("play: %+v", p)
		}
		if len(leafTasks(p.PreTasks)) != 1 || len(leafTasks(p.Tasks)) != 3 || len(leafTasks(p.PostTasks)) != 1 {
			t.Fatalf("sections %d %d %d", len(leafTasks(p.PreTasks)), len(leafTasks(p.Tasks)), len(leafTasks(p.PostTasks)))
		}
		x := leafTasks(p.Tasks)[0]
		if x.Name != "t" || *x.Become || x.BecomeUser != "root" || !reflect.DeepEqual(x.When, []string{"a == 1", "True"}) || x.Register != "out" {
			t.Errorf("task: %+v", x)
		}
		if !reflect.DeepEqual(x.ChangedWhen, []string{"False"}) || !reflect.DeepEqual(x.FailedWhen, []string{"out.rc != 0 and 'x' not in out.stdout"}) {
			t.Errorf("task: %+v", x)
		}
		if x.IgnoreErrors != true || !reflect.DeepEqual(x.Tags, []string{"a", "b"}) || x.Timeout != 30 ||
			!reflect.DeepEqual(x.Environment, map[string]any{"X": "1"}) {
			t.Errorf("task: %+v", x)
		}
		y := leafTasks(p.Tasks)[1]
		if !reflect.DeepEqual(y.Loop, []any{1, 2}) || y.IgnoreErrors != "{{ a == 1 }}" || !reflect.DeepEqual(y.Tags, []string{"c", "5"}) {
			t.Errorf("task: %+v", y)
		}
		if leafTasks(p.Tasks)[2].Loop != "{{ [1, 2] }}" || leafTasks(p.Tasks)[0].ChangedWhen == nil || leafTasks(p.Tasks)[1].ChangedWhen != nil {
			t.Errorf("task: %+v", leafTasks(p.Tasks)[2])
		}
	}},
	{"filters and tests", `
- hosts: localhost
  gather_facts: false
  vars:
    v: "{{ x | default('a') | d('b', true) | bool | int | string | lower | upper | trim }}"
    w: "{{ [1, 2] | join(',') | length }}{{ [1] | first }}{{ [1] | last }}"
    r: "{{ 'ab' | regex_search('a') }}{{ 'ab' | regex_replace('a', 'b') | quote | to_json }}"
  tasks:
    - raw: echo {{ v | quote }} | grep -v x | sort
      register: out
      failed_when: out is failed or out is not succeeded or out is success
      changed_when: out is changed or out is change or out is skipped or out is skip
      when: v is defined and w is not undefined and 'a' is match('a') and 'b' is search('b')
`, func(t *testing.T, pb *Playbook) {
		if len(leafTasks(pb.Plays[0].Tasks)) != 1 {
			t.Errorf("tasks %d", len(leafTasks(pb.Plays[0].Tasks)))
		}
	}},
	{"two plays, serial scalar, empty tasks", `
- hosts: a:b:!c
  gather_facts: false
  serial: 2
  tasks:
- hosts: all
  gather_facts: false
  serial: "50%"
  become: true
  tasks: []
  post_tasks:
    - raw: "true"
`, func(t *testing.T, pb *Playbook) {
		if len(pb.Plays) != 2 || pb.Plays[0].Hosts != "a:b:!c" || pb.Plays[0].Name != "a:b:!c" ||
			!reflect.DeepEqual(pb.Plays[0].Serial, []string{"2"}) || !reflect.DeepEqual(pb.Plays[1].Serial, []string{"50%"}) {
			t.Errorf("%+v %+v", pb.Plays[0], pb.Plays[1])
		}
		if pb.Plays[1].Line != 6 || leafTasks(pb.Plays[1].PostTasks)[0].FreeForm != "true" {
			t.Errorf("%+v", pb.Plays[1])
		}
	}},
}

func TestLoadPlaybookAccepts(t *testing.T) {
	dir := t.TempDir()
	for i, c := range acceptedPlaybooks {
		t.Run(c.name, func(t *testing.T) {
			p := writePlaybook(t, dir, "ok"+string(rune('a'+i))+".yml", c.text)
			pb, err := LoadPlaybook(p, false)
			if err != nil {
				t.Fatal(err)
			}
			if pb.File != p {
				t.Errorf("file %q", pb.File)
			}
			c.check(t, pb)
		})
	}
}

// TestAcceptedPlaybooksAreAnsible gives every accepted playbook to
// ansible-playbook --syntax-check.
func TestAcceptedPlaybooksAreAnsible(t *testing.T) {
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Skip("ansible-playbook is not installed: the accepted playbooks are not checked against it")
	}
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]string, len(acceptedPlaybooks))
	for i, c := range acceptedPlaybooks {
		p := writePlaybook(t, dir, "pb"+string(rune('a'+i))+".yml", c.text)
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("ansible-playbook", "-i", "localhost,", "--syntax-check", p)
			cmd.Env = append(os.Environ(), "ANSIBLE_NOCOLOR=1", "ANSIBLE_LOCALHOST_WARNING=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = c.name + ": " + err.Error() + "\n" + string(out)
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Error(e)
		}
	}
}

func TestLoadPlaybookRefuses(t *testing.T) {
	const head = "- hosts: all\n  gather_facts: false\n  tasks:\n" // the task is on line 4
	cases := []struct {
		text      string
		line      int
		construct string
		why       string
	}{
		{head + "    - shell: echo\n", 4, "module shell", "raw, script, debug, fail, set_fact, assert, pause, wait_for_connection and meta"},
		{head + "    - ansible.builtin.command: echo\n", 4, "module ansible.builtin.command", ""},
		{head + "    - name: x\n      copy: {src: a, dest: b}\n", 5, "module copy", ""},
		{head + "    - template: src=a dest=b\n", 4, "module template", ""},
		{head + "    - include_tasks: \"{{ f }}.yml\"\n", 4, "a templated include_tasks file", ""},
		{head + "    - include_tasks: x.yml\n      loop: [1]\n", 5, "a loop on include_tasks", ""},
		{head + "    - include_role: {name: r}\n", 4, "include_role", "import_tasks and include_tasks only"},
		{head + "    - ansible.builtin.include_role: {name: r}\n", 4, "ansible.builtin.include_role", ""},
		{head + "    - block:\n        - raw: x\n      delegate_to: other\n", 6, "delegate_to", "delegation"},
		{head + "    - raw: x\n      delegate_to: h\n", 5, "delegate_to", "delegation"},
		{head + "    - raw: x\n      until: r is success\n      retries: \"{{ n }}\"\n", 6, "a templated retries", ""},
		{head + "    - meta: flush_handlers\n", 4, "meta: flush_handlers", "noop, end_host and end_play"},
		{head + "    - meta: \"{{ m }}\"\n", 4, "a templated meta action", ""},
		{head + "    - meta: end_host\n      register: x\n", 5, "register on a meta task", ""},
		{head + "    - set_fact: a=1 b\n", 4, "set_fact with a free form", ""},
		{head + "    - assert:\n        that: x is version('1', '>')\n", 5, "the test version", ""},
		{head + "    - raw: x\n      until: x is version('1', '>')\n", 5, "the test version", ""},
		{head + "    - raw: x\n      with_dict: {a: 1}\n", 5, "with_dict", "with_items only"},
		{head + "    - raw: x\n      with_items: [1]\n      loop: [2]\n", 6, "loop after with_items", ""},
		{head + "    - raw: x\n      loop: [1]\n      loop_control: {loop_var: \"{{ v }}\"}\n", 6, "a templated loop_control.loop_var", ""},
		{head + "    - include_tasks: x.yml\n      with_items: [1]\n", 5, "a loop on include_tasks", ""},
		{head + "    - pause: seconds=1\n      loop: [1]\n      register: p\n      delegate_to: x\n", 7, "delegate_to", ""},
		{head + "    - raw: x\n      notify: h\n", 5, "notify", "handlers"},
		{head + "    - raw: x\n      vars: {a: \"{{ lookup('env', 'X') }}\"}\n", 5, "lookup()", ""},
		{head + "    - raw: x\n      check_mode: \"{{ c }}\"\n", 5, "a templated check_mode", ""},
		{head + "    - raw: x\n      async: 10\n", 5, "async", ""},
		{head + "    - local_action: raw x\n", 4, "local_action", ""},
		{head + "    - raw: echo {{ lookup('env', 'HOME') }}\n", 4, "lookup()", "lookups"},
		{head + "    - debug:\n        msg: \"{{ query('inventory_hostnames', 'all') }}\"\n", 5, "query()", ""},
		{head + "    - raw: echo {{ x | b64encode }}\n", 4, "the filter b64encode", ""},
		{head + "    - raw: echo {{ x | ansible.builtin.to_yaml }}\n", 4, "the filter ansible.builtin.to_yaml", ""},
		{head + "    - raw: echo {{ x | ansible.builtin.quote }}\n", 4, "the filter name ansible.builtin.quote", "write quote"},
		{head + "    - raw: echo\n      when:\n        - true\n        - x is version('1', '>')\n", 7, "the test version", ""},
		{head + "    - raw: echo\n      failed_when: r | selectattr('x')\n", 5, "the filter selectattr", ""},
		{head + "    - raw: echo\n      when: x is match('a', ignorecase=true)\n", 5, "the template", "cannot parse"},
		{head + "    - raw: x\n      become: \"{{ b }}\"\n", 5, "a templated become", ""},
		{head + "    - raw: chdir=/tmp ls\n", 4, "raw's argument chdir", ""},
		{"- hosts: all\n  gather_facts: false\n  vars:\n    x: \"{{ lookup('file', 'y') }}\"\n  tasks: []\n", 4, "lookup()", ""},
		{"- hosts: all\n  gather_facts: true\n  tasks: []\n", 2, "gather_facts: true", "gather_facts: false"},
		{"- hosts: all\n  gather_facts: yes\n", 2, "gather_facts: yes", "gather_facts: false"},
		{"- hosts: all\n  gather_facts: false\n  roles: [r]\n", 3, "roles", ""},
		{"- hosts: all\n  gather_facts: false\n  handlers: []\n", 3, "handlers", ""},
		{"- hosts: all\n  gather_facts: false\n  strategy: free\n", 3, "strategy: free", "linear"},
		{"- hosts: all\n  gather_facts: false\n  vars_prompt: []\n", 3, "vars_prompt", ""},
		{"- hosts: all\n  gather_facts: false\n  serial: \"{{ n }}\"\n", 3, "a templated serial", ""},
		{"- hosts: all\n  gather_facts: false\n- import_playbook: \"{{ x }}.yml\"\n", 3, "a templated import_playbook", ""},
		{"- name: x\n  hosts: all\n  tasks: []\n", 1, "gathering facts", "gather_facts: false"},
	}
	dir := t.TempDir()
	for i, c := range cases {
		p := writePlaybook(t, dir, "r.yml", c.text)
		_, err := LoadPlaybook(p, true)
		var re *RefusedError
		if !errors.As(err, &re) {
			t.Errorf("%d: %q: %v, want a refusal", i, c.text, err)
			continue
		}
		if re.Line != c.line || !strings.HasPrefix(re.Construct, c.construct) || !strings.Contains(re.Why, c.why) || re.File != p {
			t.Errorf("%d: %q:\n got %d %q (%s)\nwant %d %q (%s)", i, c.text, re.Line, re.Construct, re.Why, c.line, c.construct, c.why)
		}
		if msg := re.Error(); !strings.HasPrefix(msg, p+":") || !strings.HasSuffix(msg, "run it with ops remote-container ansible-playbook") {
			t.Errorf("%d: message %q", i, msg)
		}
	}
}

func TestLoadPlaybookSyntaxErrors(t *testing.T) {
	cases := []struct {
		text string
		line int
		msg  string
	}{
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: a\n      script: b\n", 5, "conflicting action statements: raw, script"},
		{"- gather_facts: false\n  tasks: []\n", 1, "the field 'hosts' is required"},
		{"- hosts: []\n  gather_facts: false\n", 1, "Hosts list cannot be empty"},
		{"- hosts: all\n  gather_facts: false\n  when: x\n", 3, "'when' is not a valid attribute for a Play"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - name: nothing\n", 4, "no module/action detected in task"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: hello\n", 4, "has extra params"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: {msg: a, var: b}\n", 4, "'msg' and 'var' are incompatible"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: x\n      tags: {a: 1}\n", 5, "tags must be specified as a list"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: x\n      become: maybe\n", 5, "could not be converted to an bool"},
		{"- hosts: all\n  gather_facts: false\n  tasks: x\n", 3, "A malformed block"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: \"unbalanced\n", 4, "YAML syntax error"},
		{"hosts: all\n", 1, "A playbook must be a list of plays"},
		{"", 0, "Empty playbook"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: x\n      loop: 3\n", 5, "Invalid data passed to 'loop'"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - import_tasks: s.yml\n      loop: [1]\n", 5, "You cannot use loops on 'import_tasks'"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - include_tasks: nowhere.yml\n", 4, "Could not find or access"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - block:\n        - raw: x\n      register: r\n", 4, "'register' is not a valid attribute for a Block"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - block: 3\n", 4, "A malformed block"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: x\n      vars:\n        from: 1\n", 6, "'from' is not a valid variable name"},
		{"- hosts: all\n  gather_facts: false\n  vars:\n    caf\u00e9: 1\n", 4, "is not a valid variable name"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: x\n      loop: [1]\n      with_items: [2]\n", 6, "duplicate loop in task: items"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: x\n      with_items:\n", 5, "you must specify a value when using with_items"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: x\n      loop: [1]\n      loop_control: x\n", 6, "the `loop_control` value must be specified as a dictionary"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: x\n      loop: [1]\n      loop_control: {lable: x}\n", 6, "'lable' is not a valid attribute for a LoopControl"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: x\n      loop: [1]\n      loop_control: {pause: soon}\n", 6, "could not be converted to a float"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - pause: {seconds: 1, minutes: 1}\n", 4, "mutually exclusive: minutes|seconds"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - pause: seconds=soon\n", 4, "unable to convert to int"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - pause: {sekonds: 1}\n", 4, "Invalid options for pause: sekonds"},
		{"- hosts: all\n  gather_facts: false\n  tasks:\n    - wait_for_connection: timeout=never\n", 4, "timeout must be an integer"},
	}
	dir := t.TempDir()
	for i, c := range cases {
		p := writePlaybook(t, dir, "s.yml", c.text)
		_, err := LoadPlaybook(p, false)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%d: %q: %v, want a syntax error", i, c.text, err)
			continue
		}
		if se.Line != c.line || !strings.Contains(se.Msg, c.msg) || se.File != p {
			t.Errorf("%d: %q: got %d %q, want %d %q", i, c.text, se.Line, se.Msg, c.line, c.msg)
		}
	}
	if _, err := LoadPlaybook(filepath.Join(dir, "missing.yml"), false); err == nil || !strings.Contains(err.Error(), "missing.yml: no such file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestTaskListMatchesAnsible(t *testing.T) {
	text := `- hosts: [web, db]
  gather_facts: false
  tags: [t1]
  pre_tasks:
    - raw: echo pre
  tasks:
    - name: first
      raw: uptime
      tags: a,b
    - ansible.builtin.script: x.sh a b
    - debug: msg="hi"
      tags: [never]
    - fail: {msg: x}
      when: false
    - block:
        - name: in block
          raw: a
        - block:
            - raw: nested
              tags: [nb]
      rescue:
        - name: in rescue
          raw: r
      tags: [blk]
    - import_tasks: imp.yml
      tags: [imp]
    - include_tasks: imp.yml
  post_tasks:
    - name: post
      raw: "true"
      tags: always
- name: second play
  hosts: all
  gather_facts: no
  tasks:
    - raw: x
      tags: [never, n]
`
	dir := t.TempDir()
	writePlaybook(t, dir, "imp.yml", "- name: imported\n  raw: i\n  tags: [a]\n")
	p := writePlaybook(t, dir, "list.yml", text)
	pb, err := LoadPlaybook(p, false)
	if err != nil {
		t.Fatal(err)
	}
	_, haveAnsible := exec.LookPath("ansible-playbook")
	for _, args := range [][]string{nil, {"--tags", "a"}, {"--skip-tags", "always"}, {"--tags", "n"}, {"--tags", "tagged", "--skip-tags", "a"},
		{"--tags", "nb"}, {"--skip-tags", "blk"}} {
		var only, skip []string
		for i := 0; i < len(args); i += 2 {
			if args[i] == "--tags" {
				only = strings.Split(args[i+1], ",")
			} else {
				skip = strings.Split(args[i+1], ",")
			}
		}
		got := pb.TaskList(only, skip)
		if haveAnsible != nil {
			if args == nil && !strings.Contains(got, "      first\tTAGS: [a, b, t1]\n") {
				t.Errorf("%s", got)
			}
			continue
		}
		cmd := exec.Command("ansible-playbook", append([]string{"-i", "localhost,", "--list-tasks", p}, args...)...)
		cmd.Env = append(os.Environ(), "ANSIBLE_NOCOLOR=1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if got != string(out) {
			t.Errorf("%v:\n got %q\nwant %q", args, got, out)
		}
	}
}
