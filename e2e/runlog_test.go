//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ops-team/ops/internal/lab"
)

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	// The bare remotes belong to the operation server's login user.
	out, err := exec.Command("git", append([]string{"-c", "safe.directory=*", "-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// bareRemote makes a bare repository in the operation server's login home,
// reached over SSH through the lab's sshd.
func bareRemote(t *testing.T, name string) (url, path string) {
	st := labState(t)
	path = "/home/" + lab.OpUser + "/" + name + ".git"
	if _, stderr, code := opsCmd(t, labEnv(t), "--no-log", "remote", "rm -rf "+path+" && git init -q --bare "+path); code != 0 {
		t.Fatalf("bare repo: %s", stderr)
	}
	t.Cleanup(func() { os.RemoveAll(path) })
	return "ssh://" + st.OpServerDest() + path, path
}

func commitCount(t *testing.T, dir, ref string) int {
	out := gitOut(t, dir, "rev-list", "--count", ref)
	n := 0
	for _, c := range strings.TrimSpace(out) {
		n = n*10 + int(c-'0')
	}
	return n
}

// remoteCount is how many commits ref has in repo, 0 when it has none.
func remoteCount(repo, ref string) int {
	out, err := exec.Command("git", "-c", "safe.directory=*", "-C", repo, "rev-list", "--count", ref).Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

// waitRemote waits, bounded, until the background push has brought ref in
// the bare repository to want commits.
func waitRemote(t *testing.T, bare, ref string, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for remoteCount(bare, ref) < want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFile waits, bounded, until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}

// A run ends once its entry is committed locally: a slow remote (3 s to
// receive) does not hold it, and the entry reaches the remote afterwards.
func TestRunLogDoesNotWaitForThePush(t *testing.T) {
	url, bare := bareRemote(t, "runlog-slow")
	hook := bare + "/hooks/pre-receive"
	if _, stderr, code := opsCmd(t, labEnv(t), "--no-log", "remote", "printf '#!/bin/sh\\nsleep 3\\n' > "+hook+" && chmod +x "+hook); code != 0 {
		t.Fatalf("hook: %s", stderr)
	}
	dir := filepath.Join(t.TempDir(), "log")
	t.Cleanup(func() { waitForPushers(t, dir) }) // before the directory goes
	env := labEnv(t, "OPS_LOG_DIR="+dir, "OPS_LOG_REMOTE="+url, "OPS_LOG_PROJECT=slow")
	start := time.Now()
	_, stderr, code := opsCmd(t, env, "remote", "true")
	took := time.Since(start)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if took > 3*time.Second || remoteCount(bare, "slow") != 0 {
		t.Errorf("the run took %s and the remote has %d commits: it waited for the push", took, remoteCount(bare, "slow"))
	}
	if n := commitCount(t, dir, "slow"); n != 1 {
		t.Fatalf("%d local commits", n)
	}
	waitRemote(t, bare, "slow", 1)
	if n := remoteCount(bare, "slow"); n != 1 {
		t.Errorf("remote has %d commits after the background push, want 1", n)
	}
	list, _, _ := opsCmd(t, env, "log", "list")
	if strings.Contains(list, "QUEUED") {
		t.Errorf("pushed entry listed as queued:\n%s", list)
	}
}

func TestRunLogRecordsAndPushesOverSSH(t *testing.T) {
	url, bare := bareRemote(t, "runlog-basic")
	dir := filepath.Join(t.TempDir(), "log")
	t.Cleanup(func() { waitForPushers(t, dir) }) // before the directory goes
	env := labEnv(t, "OPS_LOG_DIR="+dir, "OPS_LOG_REMOTE="+url, "OPS_LOG_PROJECT=lab-project")
	out, stderr, code := opsCmd(t, env, "remote", "--", "sh", "-c", "echo hello from $(id -un); exit 4")
	if code != 4 || stderr != "" {
		t.Fatalf("exit %d, stderr %q (logging must not speak when it works)", code, stderr)
	}
	if out != "hello from "+lab.OpUser+"\n" {
		t.Errorf("stdout %q", out)
	}
	waitRemote(t, bare, "refs/heads/lab-project", 1)
	if n := commitCount(t, bare, "refs/heads/lab-project"); n != 1 {
		t.Fatalf("remote has %d commits on lab-project", n)
	}
	msg := gitOut(t, bare, "log", "-1", "--format=%B", "lab-project")
	if !strings.HasPrefix(msg, "[failed] ") || !strings.Contains(msg, "remote -- sh -c") || !strings.Contains(msg, "Ops-Exit: 4") {
		t.Errorf("commit message %q", msg)
	}
	files := strings.Fields(gitOut(t, bare, "ls-tree", "-r", "--name-only", "lab-project"))
	if len(files) != 1 || !strings.HasPrefix(files[0], time.Now().UTC().Format("2006/01/02/")) {
		t.Fatalf("files %v", files)
	}
	entry := gitOut(t, bare, "show", "lab-project:"+files[0])
	for _, want := range []string{"argv:", "    - remote", "user: root", "host: ", "server: " + labState(t).OpServerDest(), `exit: "4"`, "duration: ", "ops_version: ", "---\nhello from " + lab.OpUser + "\n"} {
		if !strings.Contains(entry, want) {
			t.Errorf("entry lacks %q:\n%s", want, entry)
		}
	}
	// ops log list / show read it back.
	list, _, code := opsCmd(t, env, "log", "list")
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "# ") || !strings.Contains(lines[0], "branch lab-project") || !strings.Contains(lines[2], " 4 ") {
		t.Fatalf("log list: %q", list)
	}
	lines = lines[1:] // the first names the log and its branch
	if len(lines) != 2 {
		t.Fatalf("log list: %q", list)
	}
	id := strings.Fields(lines[1])[0]
	shown, _, code := opsCmd(t, env, "log", "show", id)
	if code != 0 || shown != entry {
		t.Errorf("log show %s: exit %d\n%s", id, code, shown)
	}
	if _, stderr, code := opsCmd(t, env, "log", "show", "zzz"); code != 1 || !strings.Contains(stderr, "not an entry ID") {
		t.Errorf("bad ID: %d %q", code, stderr)
	}
}

func TestRunLogQueuesWhenTheRemoteIsDown(t *testing.T) {
	url, bare := bareRemote(t, "runlog-queue")
	dir := filepath.Join(t.TempDir(), "log")
	t.Cleanup(func() { waitForPushers(t, dir) }) // before the directory goes
	down := "ssh://" + lab.OpUser + "@127.0.0.1:9/nowhere.git"
	envDown := labEnv(t, "OPS_LOG_DIR="+dir, "OPS_LOG_REMOTE="+down, "OPS_LOG_PROJECT=q")
	marker := filepath.Join(dir, ".git", "ops-push-failed")
	// The first run does not wait to hear of the failure; the next says it.
	if _, stderr, code := opsCmd(t, envDown, "remote", "true"); code != 0 || stderr != "" {
		t.Fatalf("remote down, first run: exit %d, stderr %q", code, stderr)
	}
	waitFile(t, marker)
	_, stderr, code := opsCmd(t, envDown, "remote", "true")
	if code != 0 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "run log: 2 entries queued, last push failed: ") || !strings.Contains(stderr, "ops log push sends them") {
		t.Fatalf("remote down, second run: exit %d, stderr %q", code, stderr)
	}
	list, _, _ := opsCmd(t, envDown, "log", "list")
	if strings.Count(list, "QUEUED") != 2 {
		t.Errorf("log list does not show 2 queued runs:\n%s", list)
	}
	if n := commitCount(t, dir, "q"); n != 2 {
		t.Fatalf("%d local commits", n)
	}
	envUp := labEnv(t, "OPS_LOG_DIR="+dir, "OPS_LOG_REMOTE="+url, "OPS_LOG_PROJECT=q")
	if _, stderr, code := opsCmd(t, envUp, "log", "push"); code != 0 || !strings.Contains(stderr, "pushed 2 run(s)") {
		t.Fatalf("log push: %d %q", code, stderr)
	}
	if _, stderr, code := opsCmd(t, envUp, "log", "push"); code != 0 || !strings.Contains(stderr, "pushed 0 run(s)") {
		t.Errorf("second log push: %d %q", code, stderr)
	}
	// The next run pushes itself; nothing is duplicated.
	if _, err := os.Stat(marker); err == nil {
		t.Error("failure marker left after ops log push")
	}
	if _, stderr, code := opsCmd(t, envUp, "remote", "true"); code != 0 || stderr != "" {
		t.Errorf("run with the remote back: %d %q", code, stderr)
	}
	waitRemote(t, bare, "q", 3)
	if n := commitCount(t, bare, "q"); n != 3 {
		t.Errorf("remote has %d commits, want 3", n)
	}
	// Another operator's clone pushes meanwhile: ours rebases over it.
	other := filepath.Join(t.TempDir(), "other")
	envOther := labEnv(t, "OPS_LOG_DIR="+other, "OPS_LOG_REMOTE="+url, "OPS_LOG_PROJECT=q")
	opsCmd(t, envOther, "remote", "echo other")
	opsCmd(t, envUp, "remote", "echo mine")
	waitRemote(t, bare, "q", 5)
	if n := commitCount(t, bare, "q"); n != 5 {
		t.Errorf("remote has %d commits after both operators, want 5", n)
	}
	gitOut(t, bare, "fsck", "--strict")
}

func TestRunLogTenConcurrentRuns(t *testing.T) {
	url, bare := bareRemote(t, "runlog-ten")
	dir := filepath.Join(t.TempDir(), "log")
	t.Cleanup(func() { waitForPushers(t, dir) }) // before the directory goes
	env := labEnv(t, "OPS_LOG_DIR="+dir, "OPS_LOG_REMOTE="+url, "OPS_LOG_PROJECT=ten")
	var wg sync.WaitGroup
	codes := make([]int, 10)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, codes[i] = opsCmd(t, env, "remote", "--", "sh", "-c", "echo run; exit "+string(rune('0'+i)))
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != i {
			t.Errorf("run %d exited %d", i, c)
		}
	}
	opsCmd(t, env, "log", "push")
	if n := commitCount(t, dir, "ten"); n != 10 {
		t.Errorf("%d local commits, want 10", n)
	}
	if n := commitCount(t, bare, "ten"); n != 10 {
		t.Errorf("%d remote commits, want 10", n)
	}
	gitOut(t, dir, "fsck", "--strict")
	gitOut(t, bare, "fsck", "--strict")
	if st := gitOut(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("the clone is not clean: %q", st)
	}
}

func TestRunLogInterruptedRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	t.Cleanup(func() { waitForPushers(t, dir) }) // before the directory goes
	cmd := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops"), "remote", "--", "sh", "-c", "echo ready; sleep 60")
	cmd.Env = append([]string{"PATH=" + toolsOnly(t, "git"), "HOME=" + t.TempDir()}, labEnv(t, "OPS_LOG_DIR="+dir, "OPS_LOG_PROJECT=int")...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Start()
	var buf bytes.Buffer
	expect(t, stdout, &buf, "ready", 20*time.Second)
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d", code)
	}
	msg := gitOut(t, dir, "log", "-1", "--format=%B", "int")
	if !strings.HasPrefix(msg, "[interrupted] ") {
		t.Errorf("message %q", msg)
	}
	files := strings.Fields(gitOut(t, dir, "ls-tree", "-r", "--name-only", "int"))
	entry := gitOut(t, dir, "show", "int:"+files[0])
	if !strings.Contains(entry, "exit: interrupted") || !strings.Contains(entry, "ready\n") {
		t.Errorf("entry:\n%s", entry)
	}
}

func TestRunLogKeepsNoSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	t.Cleanup(func() { waitForPushers(t, dir) }) // before the directory goes
	url, bare := bareRemote(t, "runlog-secret")
	env := labEnv(t, "OPS_LOG_DIR="+dir, "OPS_LOG_REMOTE="+url, "OPS_LOG_PROJECT=s")
	fakeSecret := "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	become := "typed-" + labState(t).BecomePassword
	cmd := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops"), "remote", "--", "sh", "-c",
		`echo "aws_secret_access_key = `+fakeSecret+`"; printf "BECOME password: "; read p; echo "oops, echoed: $p"; echo AKIAIOSFODNN7EXAMPLE`)
	cmd.Env = append([]string{"PATH=" + toolsOnly(t, "git"), "HOME=" + t.TempDir()}, env...)
	cmd.Stdin = strings.NewReader(become + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "oops, echoed: "+become) {
		t.Fatalf("the command did not echo: %q", out)
	}
	// The operator's own AWS secret from the environment is masked too.
	awsSecret := labState(t).AWSSecretKey
	opsCmd(t, env, "remote", "echo key is "+awsSecret)
	waitRemote(t, bare, "s", 2)
	if n := remoteCount(bare, "s"); n != 2 {
		t.Fatalf("remote has %d commits, want 2", n)
	}
	for _, repo := range []string{dir, bare} {
		history := gitOut(t, repo, "log", "-p", "--all", "--format=%B")
		for _, s := range []string{fakeSecret, become, "AKIAIOSFODNN7EXAMPLE", awsSecret} {
			if strings.Contains(history, s) {
				t.Errorf("%s: the history holds %q", repo, s)
			}
		}
		// "BECOME password: oops, …" reads as a YAML password too: what
		// follows it is masked, the rest of the line stays.
		if !strings.Contains(history, "echoed: ********") {
			t.Errorf("%s: the transcript lost its shape:\n%s", repo, history)
		}
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("log directory mode %v", fi.Mode())
	}
}

func TestRunLogNeverChangesTheOutcome(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o600)
	_, stderr, code := opsCmd(t, labEnv(t, "OPS_LOG_DIR="+blocker+"/log"), "remote", "exit 6")
	if code != 6 || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "ops: warning: the run was not logged") {
		t.Errorf("exit %d stderr %q", code, stderr)
	}
	_, stderr, code = opsCmd(t, labEnv(t, "OPS_LOG_ENABLED=false", "OPS_LOG_DIR="+blocker+"/log"), "remote", "true")
	if code != 0 || stderr != "" {
		t.Errorf("log off: %d %q", code, stderr)
	}
}

func TestRunLogOfContainerRuns(t *testing.T) {
	st := labState(t)
	ensureDeployed(t)
	dir := filepath.Join(t.TempDir(), "log")
	t.Cleanup(func() { waitForPushers(t, dir) }) // before the directory goes
	env := labEnv(t, "OPS_LOG_DIR="+dir, "OPS_LOG_PROJECT=c")
	play := filepath.Join(t.TempDir(), "uptime.yml")
	b, _ := os.ReadFile(filepath.Join(projectDir(t), "playbooks", "uptime.yml"))
	os.WriteFile(play, b, 0o644)
	_, stderr, code := opsCmd(t, env, "remote-container", "--copy", st.InventoryPath(), "--copy", play, "--", "sh", "-c",
		`test "$OPS_LOG_ENABLED" = false && ansible-playbook -i inventory.ini uptime.yml`)
	if code != 0 {
		t.Fatalf("exit %d %s", code, stderr)
	}
	files := strings.Fields(gitOut(t, dir, "ls-tree", "-r", "--name-only", "c"))
	entry := gitOut(t, dir, "show", "c:"+files[0])
	for _, want := range []string{"image: " + st.RegistryAddr + "/ops-ansible:latest", "image_digest: sha256:", "image_revision: ", "hosts:\n"} {
		if !strings.Contains(entry, want) {
			t.Errorf("entry lacks %q:\n%s", want, entry)
		}
	}
	for _, tg := range st.Targets {
		if !strings.Contains(entry, "- name: "+tg.Name+"\n      result: ok") {
			t.Errorf("entry lacks the result of %s", tg.Name)
		}
	}
	if !strings.Contains(gitOut(t, dir, "log", "-1", "--format=%B", "c"), "Ops-Hosts: "+strconv.Itoa(len(st.Targets))) {
		t.Error("commit trailer lacks the host count")
	}
	// A local run records the checkout it ran in.
	_, _, code = opsCmd(t, env, "local-container", "true")
	entry = gitOut(t, dir, "log", "-1", "-p", "--format=", "c")
	rev := strings.TrimSpace(gitOut(t, projectDir(t), "rev-parse", "HEAD"))
	if code != 0 || !strings.Contains(entry, "checkout:\n+    revision: "+rev) {
		t.Errorf("local-container entry (exit %d):\n%s", code, entry)
	}
}

// Ten runs in a row with the log remote down, then one with it up: every
// entry reaches the remote, in the order the runs happened, none twice.
func TestRunLogTenRunsDownThenUp(t *testing.T) {
	url, bare := bareRemote(t, "runlog-downup")
	dir := filepath.Join(t.TempDir(), "log")
	t.Cleanup(func() { waitForPushers(t, dir) }) // before the directory goes
	down := "ssh://" + lab.OpUser + "@127.0.0.1:9/nowhere.git"
	envDown := labEnv(t, "OPS_LOG_DIR="+dir, "OPS_LOG_REMOTE="+down, "OPS_LOG_PROJECT=du")
	for i := 0; i < 10; i++ {
		if _, stderr, code := opsCmd(t, envDown, "remote", "echo run-"+strconv.Itoa(i)); code != 0 {
			t.Fatalf("run %d with the remote down: exit %d, %q", i, code, stderr)
		}
	}
	waitForPushers(t, dir)
	if n := remoteCount(bare, "du"); n != 0 {
		t.Fatalf("the remote was down, yet has %d commits", n)
	}
	envUp := labEnv(t, "OPS_LOG_DIR="+dir, "OPS_LOG_REMOTE="+url, "OPS_LOG_PROJECT=du")
	if _, stderr, code := opsCmd(t, envUp, "remote", "echo run-10"); code != 0 {
		t.Fatalf("run with the remote up: exit %d, %q", code, stderr)
	}
	waitRemote(t, bare, "du", 11)
	waitForPushers(t, dir)
	var subjects []string // "…/ops remote echo run-N": the last word
	for _, l := range strings.Split(strings.TrimSpace(gitOut(t, bare, "log", "--reverse", "--format=%s", "du")), "\n") {
		f := strings.Fields(l)
		subjects = append(subjects, f[len(f)-1])
	}
	var want []string
	for i := 0; i <= 10; i++ {
		want = append(want, "run-"+strconv.Itoa(i))
	}
	if strings.Join(subjects, " ") != strings.Join(want, " ") {
		t.Errorf("the remote's entries, oldest first:\n%v\nwant\n%v", subjects, want)
	}
	gitOut(t, bare, "fsck", "--strict")
}
