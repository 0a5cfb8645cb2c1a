package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ops-team/ops/cmd/internal/opsconfig"
)

func loadFile(t *testing.T, path string) *opsconfig.Config {
	t.Helper()
	cfg, err := opsconfig.Load(opsconfig.Options{Path: path, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatalf("the written file does not load: %v", err)
	}
	return cfg
}

func TestInitWritesALoadableFile(t *testing.T) {
	code, out, errs := runArgs(context.Background(), t, "init", "--server", "op@opserver:2222",
		"--registry", "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/ops-ansible:v1", "--ecr",
		"--mackerel-conf", "/etc/mackerel-agent/mackerel-agent.conf", "--log-remote", "ssh://git@example.com/runlog.git")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	wd, _ := os.Getwd()
	path := filepath.Join(wd, "ops.yaml")
	if out != path+"\n" {
		t.Errorf("stdout %q, want the path written", out)
	}
	cfg := loadFile(t, path)
	for key, want := range map[string]string{
		"server.host":      "op@opserver:2222",
		"image.name":       "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/ops-ansible",
		"image.tag":        "v1",
		"registry.auth":    "ecr",
		"container.mounts": "/etc/mackerel-agent/mackerel-agent.conf:/etc/mackerel-agent/mackerel-agent.conf",
		"log.remote":       "ssh://git@example.com/runlog.git",
		"log.enabled":      "true",
		"ssh.known_hosts":  "~/.ssh/known_hosts",
	} {
		if v := cfg.Get(key); v.String() != want || v.Source == "default" && key != "log.enabled" && key != "ssh.known_hosts" {
			t.Errorf("%s = %q from %s, want %q", key, v.String(), v.Source, want)
		}
	}
	if got := cfg.List("log.secret_patterns"); len(got) != len(opsconfig.DefaultSecretPatterns()) {
		t.Errorf("the sample changes the secret patterns: %q", got)
	}
	// ops config accepts it.
	if code, _, errs := runArgsHere(t, "config"); code != 0 {
		t.Errorf("ops config: exit %d: %s", code, errs)
	}
	// Every key is in the sample, and uncommenting every commented key
	// keeps the file loadable with the same values (the defaults).
	b, _ := os.ReadFile(path)
	for _, k := range opsconfig.Keys {
		_, leaf, _ := strings.Cut(k.Name, ".")
		if !strings.Contains(string(b), "  "+leaf+": ") && !strings.Contains(string(b), "# "+leaf+": ") {
			t.Errorf("key %s missing from the sample", k.Name)
		}
	}
	un := regexp.MustCompile(`(?m)^(\s*)# ([a-z_]+:)`).ReplaceAllString(string(b), "$1$2")
	p2 := filepath.Join(t.TempDir(), "all.yaml")
	os.WriteFile(p2, []byte(un), 0o600)
	all := loadFile(t, p2)
	for _, v := range all.All() {
		if w := cfg.Get(v.Key.Name); w.String() != v.String() {
			t.Errorf("uncommented %s = %q, want %q", v.Key.Name, v.String(), w.String())
		}
	}
}

// runArgsHere is runArgs in the current directory.
func runArgsHere(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"ops"}, args...), streams{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestInitRefusals(t *testing.T) {
	t.Run("missing values without a terminal", func(t *testing.T) {
		code, out, errs := runArgs(context.Background(), t, "init", "--ecr")
		if code != 2 || out != "" || errs != "ops: init: missing --server, --registry (stdin is not a terminal to ask at)\n" {
			t.Errorf("exit %d stdout %q stderr %q", code, out, errs)
		}
		if _, err := os.Stat("ops.yaml"); err == nil {
			t.Error("a file was written")
		}
	})
	t.Run("an existing file is left as it is", func(t *testing.T) {
		code, _, _ := runArgs(context.Background(), t, "init", "--server", "a", "--registry", "r.example/x")
		if code != 0 {
			t.Fatal(code)
		}
		before, _ := os.ReadFile("ops.yaml")
		code, out, errs := runArgsHere(t, "init", "--server", "b", "--registry", "r.example/y")
		after, _ := os.ReadFile("ops.yaml")
		if code != 1 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "exists; left as it is") || !bytes.Equal(before, after) {
			t.Errorf("exit %d stdout %q stderr %q; changed: %v", code, out, errs, !bytes.Equal(before, after))
		}
	})
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"bad registry", "ops: init: --registry", []string{"--registry", "UPPER CASE"}},
		{"bad auth", `ops: init: --registry-auth "nope"`, []string{"--registry-auth", "nope"}},
		{"ecr and docker", "ops: init: --ecr and --registry-auth docker exclude each other", []string{"--ecr", "--registry-auth", "docker"}},
		{"relative mackerel conf", "ops: init: --mackerel-conf", []string{"--mackerel-conf", "m.conf"}},
		{"user and project", "ops: init: --user and --project exclude each other", []string{"--user", "--project"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"init", "--server", "s", "--registry", "r.example/x"}, tc.args...)
			code, out, errs := runArgs(context.Background(), t, args...)
			if code != 2 || out != "" || !strings.HasPrefix(errs, tc.want) || strings.Count(errs, "\n") != 1 {
				t.Errorf("exit %d stdout %q stderr %q, want 2 and %q", code, out, errs, tc.want)
			}
		})
	}
}

func TestInitTakesTheGlobalFlags(t *testing.T) {
	code, _, errs := runArgs(context.Background(), t, "--server", "g", "--image", "r.example/g", "init")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if cfg := loadFile(t, "ops.yaml"); cfg.String("server.host") != "g" || cfg.String("image.name") != "r.example/g" {
		t.Errorf("server.host %q image.name %q", cfg.String("server.host"), cfg.String("image.name"))
	}
}

func TestInitUserFile(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	code, out, errs := runArgs(context.Background(), t, "init", "--user", "--server", "s", "--registry", "r.example/x", "--registry-auth", "docker")
	want := filepath.Join(xdg, "ops", "config.yaml")
	if code != 0 || out != want+"\n" {
		t.Fatalf("exit %d stdout %q stderr %q", code, out, errs)
	}
	if cfg := loadFile(t, want); cfg.String("registry.auth") != "docker-config" || cfg.String("image.name") != "r.example/x" {
		t.Errorf("registry.auth %q image.name %q", cfg.String("registry.auth"), cfg.String("image.name"))
	}
	if _, err := os.Stat("ops.yaml"); err == nil {
		t.Error("--user wrote ./ops.yaml too")
	}
}

func TestAskMissingAtATerminal(t *testing.T) {
	o := initOptions{registry: "r.example/x"}
	var prompt bytes.Buffer
	if err := askMissing(&o, true, strings.NewReader("\n  opserver \n"), &prompt); err != nil {
		t.Fatal(err)
	}
	if o.server != "opserver" || strings.Count(prompt.String(), "operation server") != 2 {
		t.Errorf("server %q, prompts %q", o.server, prompt.String())
	}
	o = initOptions{}
	if err := askMissing(&o, true, strings.NewReader(""), &prompt); err == nil {
		t.Error("no answer must be an error")
	}
}

// ops config names every file read, ops.yaml over the per-user file.
func TestConfigListsProjectOverUserFile(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	if code, _, errs := runArgs(context.Background(), t, "init", "--user", "--server", "u", "--registry", "r.example/x"); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := runArgsHere(t, "init", "--server", "p", "--registry", "r.example/x"); code != 0 {
		t.Fatal(errs)
	}
	wd, _ := os.Getwd()
	code, out, errs := runArgsHere(t, "config")
	want := "# config file: " + filepath.Join(wd, "ops.yaml") + "\n# config file: " + filepath.Join(xdg, "ops", "config.yaml") + "\n"
	if code != 0 || !strings.HasPrefix(out, want) || !regexp.MustCompile(`(?m)^server\.host\s+p\s`).MatchString(out) {
		t.Errorf("exit %d stderr %q stdout:\n%s", code, errs, out)
	}
}
