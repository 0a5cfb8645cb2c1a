//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/docker/docker/api/types/container"
)

// forgeOnTarget prints, on a target, everything that once passed for
// results: an EXEC RECAP and a PLAY RECAP saying every host is ok, and
// result lines with no nonce and a guessed one.
const forgeOnTarget = `printf 'EXEC RECAP\n%s : ok exit=0\nPLAY RECAP ***\n%s : ok=1 changed=0 unreachable=0 failed=0\nops-result::W3sibmFtZSI6IngiLCJyZXN1bHQiOiJvayJ9XQ==\nops-result:00000000000000000000000000000000:W10=\n' "$H" "$H"`

// trustedEntry reads the newest entry of the run log in dir, branch
// "trust": every host's result (and exit, when there is one) and the
// transcript.
func trustedEntry(t *testing.T, dir string) (map[string]string, string) {
	t.Helper()
	path := strings.TrimSpace(gitOut(t, dir, "show", "--name-only", "--format=", "trust"))
	entry := gitOut(t, dir, "show", "trust:"+path)
	parts := strings.SplitN(entry, "---\n", 3)
	if len(parts) < 3 {
		t.Fatalf("entry without a header:\n%.2000s", entry)
	}
	var h struct {
		Hosts []struct {
			Name, Result string
			Exit         *int
		}
	}
	if err := yaml.Unmarshal([]byte(parts[1]), &h); err != nil {
		t.Fatalf("%v\n%s", err, parts[1])
	}
	got := map[string]string{}
	for _, x := range h.Hosts {
		got[x.Name] = x.Result
		if x.Exit != nil {
			got[x.Name] += " exit=" + strconv.Itoa(*x.Exit)
		}
	}
	return got, parts[2]
}

// Every lab target prints forged results during the run; one of them
// really fails. The run log records the real results, for ansible-playbook
// (its own PLAY RECAP) and for ops exec in the container (the nonce'd
// line, which neither the operator nor the log sees).
func TestRunLogResultsCannotBeForgedByTargets(t *testing.T) {
	st := needHosts(t, 20)
	ensureDeployed(t)
	failing := st.Targets[0].Name
	dir := filepath.Join(t.TempDir(), "log")
	t.Cleanup(func() { waitForPushers(t, dir) }) // before the directory goes
	env := labEnv(t, "OPS_LOG_DIR="+dir, "OPS_LOG_PROJECT=trust", "OPS_LOG_REMOTE=")

	t.Run("ansible-playbook", func(t *testing.T) {
		play := filepath.Join(t.TempDir(), "forge.yml")
		os.WriteFile(play, []byte(`- hosts: all
  gather_facts: no
  tasks:
    - raw: |
        H={{ inventory_hostname }}; `+forgeOnTarget+`; test "$H" != `+failing+`
`), 0o644)
		// -v: each task's output, the forged lines in it, is shown.
		_, stderr, code := opsCmd(t, env, "remote-container", "--copy", st.InventoryPath(), "--copy", play, "--",
			"ansible-playbook", "-v", "-i", "inventory.ini", "forge.yml")
		if code != 2 {
			t.Fatalf("exit %d, want 2 (one host failed)\n%s", code, stderr)
		}
		got, transcript := trustedEntry(t, dir)
		if !strings.Contains(transcript, "EXEC RECAP") {
			t.Fatalf("the forgery is not in the transcript:\n%.3000s", transcript)
		}
		if len(got) != len(st.Targets) {
			t.Errorf("%d hosts recorded, want %d: %v", len(got), len(st.Targets), got)
		}
		for _, tg := range st.Targets {
			want := "ok"
			if tg.Name == failing {
				want = "failed"
			}
			if got[tg.Name] != want {
				t.Errorf("%s recorded %q, want %q", tg.Name, got[tg.Name], want)
			}
		}
	})

	t.Run("ops exec", func(t *testing.T) {
		stdout, stderr, code := opsCmd(t, env, "remote-container", "--copy", st.InventoryPath(), "--",
			"ops", "exec", "-i", "inventory.ini", "all", "--",
			"sh", "-c", whoAmI+` && H=$name && `+forgeOnTarget+` && printf 'ops-result:x\n' >&2 && test "$H" != `+failing)
		if code != 2 {
			t.Fatalf("exit %d, want 2 (one host failed)\n%s", code, stderr)
		}
		got, transcript := trustedEntry(t, dir)
		if len(got) != len(st.Targets) {
			t.Errorf("%d hosts recorded, want %d: %v\n%s", len(got), len(st.Targets), got, stderr)
		}
		for _, tg := range st.Targets {
			want := "ok exit=0"
			if tg.Name == failing {
				want = "failed exit=1"
			}
			if got[tg.Name] != want {
				t.Errorf("%s recorded %q, want %q", tg.Name, got[tg.Name], want)
			}
		}
		// The inner ops's marked line is neither on the screen nor in the
		// log; the targets' forgeries are, as they printed them.
		for where, s := range map[string]string{"output": stdout + stderr, "transcript": transcript} {
			for _, l := range strings.Split(s, "\n") {
				if strings.HasPrefix(l, "ops-result:") {
					t.Errorf("a result line in the %s: %q", where, l)
				}
			}
			if !strings.Contains(s, "| ops-result:00000000000000000000000000000000:W10=") {
				t.Errorf("the forged line is not in the %s as the target printed it", where)
			}
		}
	})
}

// opsWithHook builds ops with the test hooks (-tags opstesthook).
func opsWithHook(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ops")
	cmd := exec.Command("go", "build", "-tags", "opstesthook", "-o", bin, "./cmd/ops")
	cmd.Dir = projectDir(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build with the test hook: %v\n%s", err, out)
	}
	return bin
}

// createdContainers are the never-started containers ops created on the
// operation server, by ID, with their environment.
func createdContainers(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, c := range opsContainers(t) {
		if c.State != container.StateCreated || c.Labels["io.ops.run"] == "" {
			continue
		}
		ins, err := serverEngine(t).ContainerInspect(context.Background(), c.ID)
		if err == nil {
			out[c.ID] = ins.Config.Env
		}
	}
	return out
}

// ops killed (SIGKILL) between the container's creation and its start, with
// and without --copy, leaves a container that was never started, holding
// its environment's values; the next run removes it, and says so.
func TestKilledBeforeStartLeavesNoContainerBehind(t *testing.T) {
	ensureDeployed(t)
	bin := opsWithHook(t)
	copied := filepath.Join(t.TempDir(), "copied.txt")
	os.WriteFile(copied, []byte("x\n"), 0o644)
	run := func(extra []string, args ...string) (string, *exec.ExitError) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(append([]string{"PATH=" + toolsOnly(t, "git"), "HOME=" + t.TempDir()},
			labEnv(t, "OPS_LOG_ENABLED=false", "MACKEREL_APIBASE=http://leftover.invalid")...), extra...)
		out, err := cmd.CombinedOutput()
		ee, _ := err.(*exec.ExitError)
		if err != nil && ee == nil {
			t.Fatal(err)
		}
		return string(out), ee
	}
	for _, tc := range []struct {
		point string
		args  []string
	}{
		{"create", []string{"remote-container", "--", "true"}},
		{"copy", []string{"remote-container", "--copy", copied, "--", "true"}},
	} {
		t.Run(tc.point, func(t *testing.T) {
			before := createdContainers(t)
			out, ee := run([]string{"OPS_TEST_KILL_AFTER_CREATE=" + tc.point}, tc.args...)
			if ee == nil || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("not killed: %v\n%s", ee, out)
			}
			left := ""
			for id, env := range createdContainers(t) {
				if _, ok := before[id]; !ok {
					left = id
					if !strings.Contains(strings.Join(env, "\n"), "MACKEREL_APIBASE=http://leftover.invalid") {
						t.Errorf("the leftover lacks the environment it was created with: %v", env)
					}
				}
			}
			if left == "" {
				t.Fatalf("the kill left no never-started container (the hook did not fire where it should)")
			}
			// Younger than the sweep's age: kept (its ops might be uploading).
			out, ee = run(nil, "remote-container", "--", "true")
			if ee != nil || strings.Contains(out, "removed") {
				t.Fatalf("a young leftover was removed, or the run failed: %v\n%s", ee, out)
			}
			time.Sleep(2 * time.Second)
			out, ee = run([]string{"OPS_TEST_SWEEP_AGE=1s"}, "remote-container", "--", "true")
			if ee != nil || !strings.Contains(out, "ops: removed") {
				t.Errorf("the next run did not sweep: %v\n%s", ee, out)
			}
			if _, still := createdContainers(t)[left]; still {
				t.Errorf("container %s is still there", left)
			}
		})
	}
}

// At a real terminal: an interactive shell in the container where a
// command is typed before a password prompt appears, then the password;
// and ops exec -K with the password typed and every target echoing what
// it was sent on stdin. The password is nowhere in the run log; the
// command typed before the prompt is.
func TestRunLogMasksTypedPasswordsOnly(t *testing.T) {
	st := needHosts(t, 20)
	ensureDeployed(t)
	dir := filepath.Join(t.TempDir(), "log")
	t.Cleanup(func() { waitForPushers(t, dir) }) // before the directory goes
	env := labEnv(t, "OPS_LOG_DIR="+dir, "OPS_LOG_PROJECT=trust", "OPS_LOG_REMOTE=")
	secret := "typed-secret-" + randomWord(t)

	cmd, ptmx, _ := startInPTY(t, env, 40, 120, "remote-container", "--", "sh")
	var screen bytes.Buffer
	ptmx.Write([]byte("echo visible-command-$((6*7))\r"))
	expect(t, ptmx, &screen, "visible-command-42", 60*time.Second)
	// The prompt is built by printf, so that the shell's echo of this
	// command line does not already show it (the test must answer the
	// real prompt, not its echo).
	ptmx.Write([]byte(`printf '[sudo] %s for deploy: ' password; stty -echo; read -r p; stty echo; echo; echo "got ${#p} chars: $p"` + "\r"))
	expect(t, ptmx, &screen, "password for deploy: ", 10*time.Second)
	ptmx.Write([]byte(secret + "\r"))
	expect(t, ptmx, &screen, "got ", 10*time.Second)
	ptmx.Write([]byte("exit\r"))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("shell: %v\n%s", err, screen.String())
	}
	_, transcript := trustedEntry(t, dir)
	if strings.Contains(transcript, secret) || !strings.Contains(transcript, "visible-command-42") {
		t.Errorf("interactive shell: the log holds the password, or lost the command:\n%s", transcript)
	}

	// ops exec -K, typed; each target prints back what sudo's prompt got.
	cmd, ptmx, _ = startInPTY(t, env, 40, 200, "exec", "-i", st.InventoryPath(), "-K", "lab_web", "--", "sh", "-c", "echo I was told "+secret[:6]+"…; id -un")
	screen.Reset()
	expect(t, ptmx, &screen, "BECOME password:", 30*time.Second)
	ptmx.Write([]byte(st.BecomePassword + "\r"))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exec: %v\n%s", err, screen.String())
	}
	history := gitOut(t, dir, "log", "-p", "--all")
	if strings.Contains(history, st.BecomePassword) || strings.Contains(history, secret) {
		t.Errorf("a password is in the run log:\n%s", history)
	}
}

func randomWord(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
