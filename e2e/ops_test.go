//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// opsCmd runs the built ops binary with a PATH that holds no ssh, docker or
// aws binary: ops must speak those protocols itself. git is there, for the
// run log (whose ssh transport is ops itself).
func opsCmd(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops"), args...)
	cmd.Env = append([]string{"PATH=" + toolsOnly(t, "git"), "HOME=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

func configRow(t *testing.T, out, key string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == key {
			return f
		}
	}
	t.Fatalf("no row for %s in:\n%s", key, out)
	return nil
}

func TestOpsConfigExplainsEveryValue(t *testing.T) {
	st := labState(t)
	out, stderr, code := opsCmd(t, []string{"OPS_CONFIG=" + st.ConfigPath(), "OPS_IMAGE_TAG=from-env", "OPS_TARGET_USER=env-user", "AWS_SECRET_ACCESS_KEY=" + st.AWSSecretKey},
		"--tag", "from-flag", "config")
	if code != 0 {
		t.Fatalf("ops config: exit %d: %s", code, stderr)
	}
	for _, tc := range []struct{ key, value, source string }{
		{"image.tag", "from-flag", "flag"},                         // flag beats env
		{"target.user", "env-user", "env"},                         // env beats file
		{"server.host", st.OpServerDest(), st.ConfigPath() + ":3"}, // file beats default
		{"log.enabled", "true", "default"},
	} {
		f := configRow(t, out, tc.key)
		if f[1] != tc.value || f[2] != tc.source {
			t.Errorf("%s: value %q from %q, want %q from %q", tc.key, f[1], f[2], tc.value, tc.source)
		}
	}
	if strings.Contains(out, st.AWSSecretKey) {
		t.Error("ops config printed the AWS secret key unmasked")
	}
	if !strings.Contains(out, "AWS_SECRET_ACCESS_KEY="+st.AWSSecretKey[:4]+"****") {
		t.Errorf("ops config does not show the secret masked:\n%s", out)
	}
}

func TestOpsRejectsBadInputWithOneLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "ops.yaml")
	os.WriteFile(bad, []byte("image:\n  name: x\n  tga: y\n"), 0o644)
	wrongType := filepath.Join(dir, "wrong.yaml")
	os.WriteFile(wrongType, []byte("log:\n  enabled: maybe\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
		code int
	}{
		{"unknown key", []string{"--config", bad, "config"}, bad + `:3: unknown key "image.tga" (did you mean "image.tag"?)`, 2},
		{"bad bool", []string{"--config", wrongType, "config"}, wrongType + `:2: key "log.enabled": "maybe" is not true or false`, 2},
		{"missing file", []string{"--config", filepath.Join(dir, "none.yaml"), "config"}, "no such file", 2}, // a file the user named: a usage mistake
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`, 2},
		{"unknown flag", []string{"--frob", "config"}, "flag provided but not defined: -frob", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := opsCmd(t, nil, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q, want one line containing %q", stderr, tc.want)
			}
			if out != "" {
				t.Errorf("stdout not empty: %q", out)
			}
		})
	}
}

func TestOpsVersionNamesTheRevision(t *testing.T) {
	out, _, code := opsCmd(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "ops ") {
		t.Fatalf("ops version: %q exit %d", out, code)
	}
	rev, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err == nil && !strings.Contains(out, strings.TrimSpace(string(rev))) {
		t.Errorf("ops version %q does not name revision %s", out, rev)
	}
}

// ops completion bash, loaded by a real bash, completes subcommands and
// exec's flags.
func TestCompletionInRealBash(t *testing.T) {
	script := `source <(ops completion bash)
for line in "ops ex" "ops exec --for" "ops log "; do
  read -ra COMP_WORDS <<< "$line"; [[ "$line" == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _ops; echo "$line => ${COMPREPLY[*]}"
done`
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("OPS_BIN")+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	want := "ops ex => exec\nops exec --for => --forks --forward-agent\nops log  => list push show\n"
	if err != nil || string(out) != want {
		t.Errorf("%v\n%s", err, out)
	}
}

// `go install ./cmd/ops` (what `go install MODULE/cmd/ops@VERSION` does for
// a user) builds into an empty GOBIN: no replace directive, nothing but
// the module.
func TestGoInstallIntoAnEmptyGOBIN(t *testing.T) {
	gobin := t.TempDir()
	cmd := exec.Command("go", "install", "./cmd/ops")
	cmd.Dir = projectDir(t)
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(gobin, "ops"), "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "ops ") {
		t.Errorf("the installed ops: %v %q", err, out)
	}
	b, _ := os.ReadFile(filepath.Join(projectDir(t), "go.mod"))
	if strings.Contains(string(b), "\nreplace") {
		t.Error("go.mod has a replace directive: go install MODULE@VERSION would refuse it")
	}
}
