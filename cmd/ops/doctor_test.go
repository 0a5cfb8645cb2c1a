package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ops-team/ops/cmd/internal/opsconfig"
	"github.com/ops-team/ops/helper/registry"
)

// doctorDeps is deps for ops doctor with everything fine: an ops.yaml, a
// Mackerel key in the environment, and fakes that answer.
func doctorDeps(t *testing.T, yaml string, env map[string]string) (*deps, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "ops.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return env[k] }
	cfg, err := opsconfig.Load(opsconfig.Options{Path: p, Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	d := &deps{streams: streams{in: strings.NewReader(""), out: &out, err: &bytes.Buffer{}}, getenv: getenv, cfg: cfg}
	d.doctor = doctorClients{
		engine:    func(context.Context) (string, error) { return "Docker 1 at fake", nil },
		agentKeys: func(context.Context, string) ([]string, error) { return []string{"ssh-ed25519 SHA256:x me"}, nil },
		registryAuth: func(context.Context, string) (registry.Auth, error) {
			return registry.Auth{Username: "u", Password: "p", Source: "fake"}, nil
		},
		lookGit:  func() (string, error) { return "/usr/bin/git", nil },
		lsRemote: func(context.Context, string) error { return nil },
	}
	return d, &out
}

const doctorYAML = "server:\n  host: opserver\nimage:\n  name: registry.example/ops\n"

var fineEnv = map[string]string{"SSH_AUTH_SOCK": "/fake.sock", "MACKEREL_APIKEY": "k"}

func failedLines(out string) []string {
	var failed []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "ok ") {
			failed = append(failed, l)
		}
	}
	return failed
}

func TestDoctorAllFine(t *testing.T) {
	d, out := doctorDeps(t, doctorYAML, fineEnv)
	if err := runDoctor(context.Background(), d, false); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if f := failedLines(out.String()); len(f) != 0 || strings.Count(out.String(), "\n") != 7 {
		t.Errorf("want 7 ok lines:\n%s", out)
	}
}

func TestDoctorFailures(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		env   map[string]string
		fake  func(*doctorClients)
		check string
		want  string
	}{
		{"agent missing", doctorYAML, map[string]string{"MACKEREL_APIKEY": "k"}, nil, "agent", "SSH_AUTH_SOCK is unset"},
		{"agent gone", doctorYAML, fineEnv, func(c *doctorClients) {
			c.agentKeys = func(context.Context, string) ([]string, error) { return nil, errors.New("connection refused") }
		}, "agent", "does not answer (connection refused)"},
		{"agent without keys", doctorYAML, fineEnv, func(c *doctorClients) {
			c.agentKeys = func(context.Context, string) ([]string, error) { return nil, nil }
		}, "agent", "holds no keys: ssh-add"},
		{"Mackerel key missing", doctorYAML + "container:\n  mounts: [\"/nonexistent/m.conf:/etc/mackerel-agent/mackerel-agent.conf\"]\n",
			map[string]string{"SSH_AUTH_SOCK": "/fake.sock"}, nil, "mackerel", "/nonexistent/m.conf has none here"},
		{"log remote unreachable", doctorYAML + "log:\n  remote: file:///nonexistent/runlog.git\n", fineEnv, func(c *doctorClients) {
			c.lsRemote = nil // the real git ls-remote
		}, "log", "log remote file:///nonexistent/runlog.git unreachable"},
		{"engine down", doctorYAML, fineEnv, func(c *doctorClients) {
			c.engine = func(context.Context) (string, error) {
				return "", errors.New("the local Docker engine does not answer")
			}
		}, "engine", "start Docker"},
		{"no registry credentials", doctorYAML, fineEnv, func(c *doctorClients) {
			c.registryAuth = func(context.Context, string) (registry.Auth, error) { return registry.Auth{Source: "none"}, nil }
		}, "registry", "docker login registry.example"},
		{"no server", "image:\n  name: registry.example/ops\n", fineEnv, nil, "config", "run ops init --server"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, out := doctorDeps(t, tc.yaml, tc.env)
			if tc.fake != nil {
				tc.fake(&d.doctor)
			}
			err := runDoctor(context.Background(), d, false)
			var stderr bytes.Buffer
			if code := exitCode(context.Background(), err, &stderr); code != 1 || stderr.String() != "ops: doctor: 1 check(s) failed\n" {
				t.Errorf("exit %d, stderr %q", code, stderr.String())
			}
			f := failedLines(out.String())
			if len(f) != 1 || !strings.HasPrefix(f[0], "FAILED  "+tc.check+" ") || !strings.Contains(f[0], tc.want) {
				t.Errorf("want one FAILED %s line with %q:\n%s", tc.check, tc.want, out)
			}
		})
	}
}

func TestDoctorMackerelKeyFromAgentConf(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "mackerel-agent.conf")
	os.WriteFile(conf, []byte("apikey = \"abc\"\n"), 0o600)
	d, out := doctorDeps(t, doctorYAML+"container:\n  mounts: [\""+conf+":/etc/mackerel-agent/mackerel-agent.conf\"]\n", map[string]string{"SSH_AUTH_SOCK": "/s"})
	if err := runDoctor(context.Background(), d, false); err != nil || !strings.Contains(out.String(), "ok      mackerel  apikey in "+conf) {
		t.Errorf("%v\n%s", err, out)
	}
}

func TestDoctorJSON(t *testing.T) {
	d, out := doctorDeps(t, doctorYAML, map[string]string{"MACKEREL_APIKEY": "k"})
	err := runDoctor(context.Background(), d, true)
	var items []checkItem
	if jerr := json.Unmarshal(out.Bytes(), &items); jerr != nil {
		t.Fatalf("%v: %s", jerr, out)
	}
	if err == nil || len(items) != 7 || items[2].Check != "agent" || items[2].OK {
		t.Errorf("err %v items %+v", err, items)
	}
	for _, it := range items {
		if it.Check != "agent" && !it.OK {
			t.Errorf("%+v", it)
		}
	}
}

// Each check runs under a deadline (doctorTimeout).
func TestDoctorBoundsEachCheck(t *testing.T) {
	d, out := doctorDeps(t, doctorYAML+"log:\n  remote: ssh://git@example.invalid/x\n", fineEnv)
	d.doctor.lsRemote = func(ctx context.Context, _ string) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("no deadline")
		}
		return ctx.Err()
	}
	if err := runDoctor(context.Background(), d, false); err != nil {
		t.Errorf("%v\n%s", err, out)
	}
}
