package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What ops play does not run is refused before anything runs, with one
// line and exit 3; mistakes in what the user typed are exit 2.
func TestPlayRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	shell := write("shell.yml", "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: uptime\n")
	facts := write("facts.yml", "- hosts: all\n  tasks:\n    - raw: uptime\n")
	yerr := write("yerr.yml", "- hosts: all\n  tasks: [\n")
	prompt := write("prompt.yml", "- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: uptime\n    - pause:\n        prompt: Go on?\n")
	ok := write("ok.yml", "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: one\n      raw: uptime\n      tags: [t]\n")
	t.Setenv("OPS_LOG_ENABLED", "false")
	t.Setenv("HOME", t.TempDir())
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"play", "-i", "h1,", shell}, 3, "shell.yml:4: module shell is not supported by ops play"},
		{[]string{"play", "-i", "h1,", facts}, 3, "add `gather_facts: false`"},
		{[]string{"play", "-i", "h1,", yerr}, 2, "yerr.yml:2: YAML syntax error"},
		{[]string{"play", "-i", "h1,", filepath.Join(dir, "missing.yml")}, 2, "missing.yml"},
		{[]string{"play", "--step", ok}, 2, "--step is not implemented"},
		{[]string{"play", "-D", ok}, 2, "-D/--diff is not implemented"},
		{[]string{"play", "-C", "--list-tasks", ok}, 0, "one\tTAGS: [t]"},
		{[]string{"play"}, 2, "play needs a playbook"},
		{[]string{"play", "-i", "h1,", prompt}, 2, "prompt.yml:5: this pause waits for an answer at a terminal"},
		{[]string{"play", "--list-tasks", "-t", "t", ok}, 0, "one\tTAGS: [t]"},
	} {
		code, out, errs := runArgs(context.Background(), t, tc.args...)
		got := errs
		if tc.code == 0 {
			got = out
		}
		if code != tc.code || !strings.Contains(got, tc.want) || tc.code != 0 && (out != "" || strings.Count(errs, "\n") != 1) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", tc.args, code, out, errs, tc.code, tc.want)
		}
	}
}

// Completion's candidates come from the same declarations as the help.
func TestComplete(t *testing.T) {
	app := newApp(&deps{streams: streams{out: &strings.Builder{}, err: &strings.Builder{}}})
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"ex"}, "exec"},
		{[]string{"exec", "--for"}, "--forks --forward-agent"},
		{[]string{"exec", "-i", "hosts", "all", "--li"}, "--limit --list-hosts"},
		{[]string{"play", "--skip"}, "--skip-tags"},
		{[]string{"log", ""}, "list push show"},
		{[]string{"log", "list", "--j"}, "--json"},
		{[]string{"check", "--j"}, "--json"},
		{[]string{"completion", ""}, "bash fish zsh"},
		{[]string{"--vers"}, "--version"},
		{[]string{"exec", "all", "--", "fil"}, ""},
	} {
		if got := strings.Join(complete(app, tc.words), " "); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.words, got, tc.want)
		}
	}
}
