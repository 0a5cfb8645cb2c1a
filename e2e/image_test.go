//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/docker/docker/client"

	"github.com/ops-team/ops/internal/lab"
)

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// projectDir is the checkout the tests run from.
func projectDir(t *testing.T) string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}

// registryLogMark returns how many lines the registry's log has now.
func registryLogMark(t *testing.T, st *lab.State) int {
	b, _ := os.ReadFile(filepath.Join(st.Dir, "logs", "registry.log"))
	return strings.Count(string(b), "\n")
}

var blobTraffic = regexp.MustCompile(`http\.request\.method=(GET|PATCH|POST|PUT) http\.request\.remoteaddr=\S+ http\.request\.uri="?/v2/[^ ]*/blobs/`)

func blobRequestsSince(t *testing.T, st *lab.State, mark int) []string {
	b, _ := os.ReadFile(filepath.Join(st.Dir, "logs", "registry.log"))
	lines := strings.Split(string(b), "\n")
	var out []string
	for _, l := range lines[min(mark, len(lines)):] {
		if strings.Contains(l, "response completed") && blobTraffic.MatchString(l) {
			out = append(out, blobTraffic.FindString(l))
		}
	}
	return out
}

// TestImageLifecycle: build → push (ECR token) → deploy → check, then the
// faults of each step. One test, since each step needs the one before.
func TestImageLifecycle(t *testing.T) {
	st := labState(t)
	home := t.TempDir() // shared by the runs below: the ECR token cache lives there
	env := labEnv(t, "HOME="+home, "PATH="+toolsOnly(t, "go", "git"))
	root := projectDir(t)
	ops := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops"), args...)
		cmd.Dir = root
		cmd.Env = env
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Run()
		return out.String(), errb.String(), cmd.ProcessState.ExitCode()
	}

	id1, stderr, code := ops("build")
	if code != 0 {
		t.Fatalf("build: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "MB) in") {
		t.Errorf("build does not report the image size: %q", lastLine(stderr))
	}
	id2, stderr, code := ops("build")
	if code != 0 || id2 != id1 {
		t.Errorf("unchanged rebuild: exit %d, id %q then %q", code, id1, id2)
	}
	ref := "" // image.name:image.tag from the lab's config
	for _, line := range strings.Split(stderr, "\n") {
		if m := regexp.MustCompile(`ops: built (\S+) `).FindStringSubmatch(line); m != nil {
			ref = m[1]
		}
	}
	local, _ := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	ins, err := local.ImageInspect(context.Background(), ref)
	if err != nil {
		t.Fatalf("inspect %s: %v", ref, err)
	}
	if rev, _ := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output(); ins.Config.Labels["org.opencontainers.image.revision"] != strings.TrimSpace(string(rev)) {
		t.Errorf("revision label %q, HEAD %s", ins.Config.Labels["org.opencontainers.image.revision"], rev)
	}
	if ins.Config.Labels["org.opencontainers.image.created"] == "" || ins.Config.Labels["io.ops.version"] == "" {
		t.Errorf("labels %v", ins.Config.Labels)
	}

	pushed, stderr, code := ops("push")
	pushed = strings.TrimSpace(pushed)
	if code != 0 || !strings.HasPrefix(pushed, "sha256:") || !strings.Contains(stderr, "credentials: ECR)") {
		t.Fatalf("push: exit %d %q\n%s", code, pushed, lastLine(stderr))
	}
	cacheFiles, _ := filepath.Glob(filepath.Join(home, ".cache", "ops", "ecr", "*.json"))
	if len(cacheFiles) != 1 {
		t.Fatalf("ECR token cache files: %v", cacheFiles)
	}
	if fi, _ := os.Stat(cacheFiles[0]); fi.Mode().Perm() != 0o600 {
		t.Errorf("token cache mode %v", fi.Mode())
	}
	if _, stderr, code := ops("push"); code != 0 || !strings.Contains(stderr, "ECR (cached token)") {
		t.Errorf("second push did not use the cached token: %q", lastLine(stderr))
	}

	// ops pull (the original setup) brings the pushed image into the local engine.
	if pulled, stderr, code := ops("pull"); code != 0 || strings.TrimSpace(pulled) != pushed {
		t.Errorf("pull: exit %d %q (pushed %s)\n%s", code, pulled, pushed, lastLine(stderr))
	}

	deployed, stderr, code := ops("deploy", "--no-build")
	if code != 0 || strings.TrimSpace(deployed) != pushed {
		t.Fatalf("deploy: exit %d, %q (pushed %s)\n%s", code, deployed, pushed, lastLine(stderr))
	}
	// The operation server's engine has exactly the pushed digest, and no
	// registry credential was left on the server.
	out, _, code := opsCmd(t, labEnv(t), "remote", "--", "sh", "-c", "ls -a ~; test ! -e ~/.docker")
	if code != 0 {
		t.Errorf("a .docker directory was left in the login user's home: %q", out)
	}
	mark := registryLogMark(t, st)
	again, stderr, code := ops("deploy")
	if code != 0 || strings.TrimSpace(again) != pushed {
		t.Fatalf("unchanged redeploy: exit %d %q\n%s", code, again, lastLine(stderr))
	}
	if moved := blobRequestsSince(t, st, mark); len(moved) > 0 {
		t.Errorf("an unchanged redeploy moved layers:\n%s", strings.Join(moved, "\n"))
	}

	out, stderr, code = ops("check")
	if code != 0 || strings.Count(out, "\nok ") != 5 || !strings.HasPrefix(out, "ok ") {
		t.Errorf("check: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"ssh ", "engine ", "image ", "ansible [core 2.14", "forwarded agent visible in a container (1 key(s))",
		fmt.Sprintf("mackerel-inventory in the image lists %d host(s) (apikey in the server's /etc/mackerel-agent/mackerel-agent.conf)", len(strings.Split(inventoryHosts(st), ",")))} {
		if !strings.Contains(out, want) {
			t.Errorf("check lacks %q:\n%s", want, out)
		}
	}

	t.Run("faults", func(t *testing.T) {
		badDocker := t.TempDir()
		os.WriteFile(filepath.Join(badDocker, "config.json"), []byte(`{"auths":{"`+st.RegistryAddr+`":{"auth":"QVdTOndyb25n"}}}`), 0o600)
		kh := filepath.Join(t.TempDir(), "known_hosts")
		b, _ := os.ReadFile(st.KnownHosts())
		forged := regexp.MustCompile(`(?m)^(\[127\.0\.0\.1\]:\d+ ssh-ed25519 ).*$`).ReplaceAllString(string(b), "${1}AAAAC3NzaC1lZDI1NTE5AAAAIGkzRx3rNSUR7wDJDWrt9kIe8Pl7NTYKW7zBaF00t3C+")
		os.WriteFile(kh, []byte(forged), 0o600)
		noDockerfile := t.TempDir()
		failing := failingProject(t, root)
		for _, tc := range []struct {
			name string
			env  []string
			args []string
			code int
			want string
		}{
			{"wrong registry credentials", []string{"OPS_REGISTRY_AUTH=docker-config", "DOCKER_CONFIG=" + badDocker, "HOME=" + t.TempDir()}, []string{"push"}, 1, "unauthorized"},
			{"ECR refuses the secret", []string{"AWS_SECRET_ACCESS_KEY=wrong", "HOME=" + t.TempDir()}, []string{"push"}, 1, "InvalidSignatureException"},
			{"ECR unreachable", []string{"OPS_REGISTRY_ECR_ENDPOINT=http://127.0.0.1:9", "HOME=" + t.TempDir()}, []string{"push"}, 1, "ECR GetAuthorizationToken"},
			{"no AWS credentials", []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_CONFIG_FILE=/nonexistent", "HOME=" + t.TempDir()}, []string{"push"}, 1, "no AWS credentials"},
			{"local engine not running", []string{"DOCKER_HOST=unix:///nonexistent.sock"}, []string{"push"}, 1, "the local Docker engine does not answer"},
			{"server engine not running", []string{"OPS_SERVER_DOCKER_SOCKET=/run/ops-lab/none.sock"}, []string{"deploy", "--no-build"}, 1, "Docker engine at /run/ops-lab/none.sock does not answer"},
			{"server unreachable", []string{"OPS_SERVER_HOST=" + lab.OpUser + "@127.0.0.1:9"}, []string{"deploy", "--no-build"}, 255, "cannot reach"},
			{"server host key changed", []string{"OPS_SSH_KNOWN_HOSTS=" + kh}, []string{"deploy", "--no-build"}, 255, "HOST KEY CHANGED"},
			{"image not built", []string{"OPS_IMAGE_TAG=never-built"}, []string{"push"}, 1, "run ops build first"},
			{"image not deployed", []string{"OPS_IMAGE_TAG=never-built"}, []string{"check"}, 1, "1 check(s) failed"},
			{"Dockerfile missing", nil, []string{"build", "--project", noDockerfile}, 2, "has no image/Dockerfile"},
			{"a build step fails", []string{"OPS_IMAGE_TAG=failing"}, []string{"build", "--project", failing}, 1, "returned a non-zero code: 3"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				saved := env
				env = append(append([]string{}, env...), tc.env...)
				defer func() { env = saved }()
				out, stderr, code := ops(tc.args...)
				if code != tc.code || !strings.Contains(lastLine(stderr), tc.want) || !strings.HasPrefix(lastLine(stderr), "ops: ") {
					t.Errorf("exit %d, last line %q; want %d and %q", code, lastLine(stderr), tc.code, tc.want)
				}
				if tc.name != "image not deployed" && out != "" {
					t.Errorf("stdout %q", out)
				}
			})
		}
		// Nothing half-done: the server still has the deployed image.
		out, _, code := ops("check")
		if code != 0 {
			t.Errorf("check after the faults: %s", out)
		}
	})
}

// toolsOnly makes a PATH with just these tools (ops build cross-compiles
// with go, which stamps the git revision): no ssh, docker or aws.
func toolsOnly(t *testing.T, tools ...string) string {
	dir := t.TempDir()
	for _, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// failingProject is a copy of the project whose Dockerfile fails at a RUN step.
func failingProject(t *testing.T, root string) string {
	dir := t.TempDir()
	for _, p := range []string{"go.mod", "go.sum", "cmd", "helper", "inventory", "internal"} {
		if out, err := exec.Command("cp", "-r", filepath.Join(root, p), dir).CombinedOutput(); err != nil {
			t.Fatalf("cp %s: %v %s", p, err, out)
		}
	}
	os.MkdirAll(filepath.Join(dir, "image"), 0o755)
	os.WriteFile(filepath.Join(dir, "image", "Dockerfile"), []byte("ARG BASE\nFROM ${BASE}\nRUN echo failing-step && exit 3\n"), 0o644)
	return dir
}
