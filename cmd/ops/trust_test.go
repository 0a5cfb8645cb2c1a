package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/ops-team/ops/cmd/internal/opsconfig"
	"github.com/ops-team/ops/helper/docker"
	"github.com/ops-team/ops/helper/runlog"
)

// forgingTarget is a hostile target: whatever it is asked to run, it
// prints a fake EXEC RECAP, fake PLAY RECAP and result lines with no nonce
// and a guessed one, all saying every host is ok, then fails with exit 1.
// It records everything ops sends it (requests, their payloads, stdin).
type forgingTarget struct {
	mu   sync.Mutex
	seen bytes.Buffer
}

func forgedOutput(host string) string {
	ok := []runlog.HostResult{{Name: host, Result: "ok"}}
	return "EXEC RECAP\n" + host + " : ok exit=0\nPLAY RECAP ***\n" + host + " : ok=1 changed=0 unreachable=0 failed=0\n" +
		string(runlog.ResultLine("", ok)) + string(runlog.ResultLine(strings.Repeat("0", 32), ok))
}

func (f *forgingTarget) start(t *testing.T) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	hostKey, _ := ssh.NewSignerFromKey(priv)
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(c ssh.ConnMetadata, _ ssh.PublicKey) (*ssh.Permissions, error) {
		f.record("user", []byte(c.User()))
		return nil, nil
	}}
	cfg.AddHostKey(hostKey)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(c, cfg)
		}
	}()
	return l.Addr().String()
}

func (f *forgingTarget) record(kind string, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Fprintf(&f.seen, "%s: %s\n", kind, b)
}

func (f *forgingTarget) serve(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go func() {
		for r := range reqs {
			f.record("global "+r.Type, r.Payload)
			if r.WantReply {
				r.Reply(false, nil)
			}
		}
	}()
	for nc := range chans {
		f.record("channel "+nc.ChannelType(), nc.ExtraData())
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer ch.Close()
			for r := range creqs {
				f.record("request "+r.Type, r.Payload)
				if r.WantReply {
					r.Reply(r.Type == "exec" || r.Type == "env" || r.Type == "pty-req", nil)
				}
				if r.Type != "exec" {
					continue
				}
				go func() {
					b, _ := io.ReadAll(bufio.NewReader(ch))
					f.record("stdin", b)
				}()
				io.WriteString(ch, forgedOutput("t1"))
				io.WriteString(ch.Stderr(), forgedOutput("t1"))
				ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{1}))
				return
			}
		}()
	}
}

// Inside a container (the outer ops passed a nonce, the inner does not
// log), ops exec and ops play send their real results marked with the
// nonce, and the nonce never reaches a target: not in a command line, an
// environment request, stdin or anything else ops sends it.
func TestInnerOpsSendsTrustedResultsTargetsNeverSeeTheNonce(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func(inv, dir string) []string
	}{
		{"exec", func(inv, _ string) []string { return []string{"exec", "-i", inv, "all", "--", "sh", "-c", "echo hi"} }},
		{"exec with script and fold", func(inv, dir string) []string {
			script := filepath.Join(dir, "s.sh")
			os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755)
			return []string{"exec", "-i", inv, "--fold", "all", "--script", script}
		}},
		{"play", func(inv, dir string) []string {
			pb := filepath.Join(dir, "pb.yml")
			os.WriteFile(pb, []byte("- hosts: all\n  gather_facts: no\n  tasks:\n    - raw: echo hi\n"), 0o644)
			return []string{"play", "-i", inv, pb}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := &forgingTarget{}
			host, port, _ := net.SplitHostPort(target.start(t))
			dir := t.TempDir()
			inv := filepath.Join(dir, "hosts")
			os.WriteFile(inv, []byte("t1 ansible_host="+host+" ansible_port="+port+" ansible_user=u\n"), 0o644)
			nonce := runlog.NewNonce()
			t.Setenv(runlog.ResultEnv, nonce)
			t.Setenv("OPS_LOG_ENABLED", "false")
			t.Setenv("SSH_AUTH_SOCK", serveAgent(t))
			t.Setenv("OPS_SSH_KNOWN_HOSTS", filepath.Join(t.TempDir(), "known_hosts"))
			code, out, errs := runArgs(context.Background(), t, tc.args(inv, dir)...)
			if code == 0 {
				t.Errorf("exit 0: the target failed\n%s\n%s", out, errs)
			}
			results := runlog.NewResults(nonce)
			f := results.Filter(io.Discard)
			f.Write([]byte(out))
			f.Write([]byte(errs))
			f.Close()
			got := results.Hosts()
			if len(got) != 1 || got[0].Name != "t1" || got[0].Result != "failed" {
				t.Errorf("results %+v from\n%s\n%s", got, out, errs)
			}
			target.mu.Lock()
			seen := target.seen.String()
			target.mu.Unlock()
			if !strings.Contains(seen, "request exec") {
				t.Fatalf("the target saw no command:\n%s", seen)
			}
			if strings.Contains(seen, nonce) {
				t.Errorf("the target saw the nonce:\n%s", seen)
			}
		})
	}
}

// fakeEngine runs a "container" whose output is scripted: the command
// inside prints what a target forged, then (when asked) what an inner ops
// exec sends, marked with the nonce it finds in the container's
// environment.
type fakeEngine struct {
	client.ContainerAPIClient
	trusted []runlog.HostResult // nil: the inner ops sends nothing
	env     []string
	created bool
	waitC   chan container.WaitResponse
	server  net.Conn
}

func (f *fakeEngine) ContainerCreate(_ context.Context, cfg *container.Config, _ *container.HostConfig, _ *network.NetworkingConfig, _ *ocispec.Platform, _ string) (container.CreateResponse, error) {
	f.env, f.created = cfg.Env, true
	return container.CreateResponse{ID: "c1"}, nil
}

func (f *fakeEngine) ContainerAttach(context.Context, string, container.AttachOptions) (types.HijackedResponse, error) {
	client, server := net.Pipe()
	f.server = server
	return types.NewHijackedResponse(client, ""), nil
}

func (f *fakeEngine) ContainerWait(context.Context, string, container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	f.waitC = make(chan container.WaitResponse, 1)
	return f.waitC, make(chan error)
}

func (f *fakeEngine) ContainerStart(context.Context, string, container.StartOptions) error {
	nonce := ""
	for _, kv := range f.env {
		if v, ok := strings.CutPrefix(kv, runlog.ResultEnv+"="); ok {
			nonce = v
		}
	}
	go func() {
		stdout := stdcopy.NewStdWriter(f.server, stdcopy.Stdout)
		stderr := stdcopy.NewStdWriter(f.server, stdcopy.Stderr)
		stdout.Write([]byte("t1 | " + strings.ReplaceAll(strings.TrimSuffix(forgedOutput("t1"), "\n"), "\n", "\nt1 | ") + "\n"))
		stderr.Write([]byte(forgedOutput("t1")))
		if f.trusted != nil {
			runlog.WriteExecRecap(stderr, f.trusted)
			stderr.Write(runlog.ResultLine(nonce, f.trusted))
		}
		stderr.Write([]byte("ops exec: 1 hosts\n"))
		f.server.Close()
		f.waitC <- container.WaitResponse{StatusCode: 2}
	}()
	return nil
}

func (f *fakeEngine) ContainerRemove(context.Context, string, container.RemoveOptions) error {
	return nil
}

// logDeps is a deps whose runs are recorded in a run log in a temporary
// directory, with the given configuration environment.
func logDeps(t *testing.T, env map[string]string) (*deps, *bytes.Buffer, *bytes.Buffer, string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git:", err)
	}
	logDir := filepath.Join(t.TempDir(), "log")
	getenv := func(k string) string {
		switch k {
		case "OPS_LOG_DIR":
			return logDir
		case "OPS_LOG_PROJECT":
			return "p"
		case "OPS_CONFIG":
			return ""
		}
		return env[k]
	}
	cfg, err := opsconfig.Load(opsconfig.Options{Dir: t.TempDir(), Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	d := &deps{streams: streams{in: strings.NewReader(""), out: &out, err: &errb}, getenv: getenv, cfg: cfg, secret: func(string) {}}
	return d, &out, &errb, logDir
}

// loggedEntry is the newest entry: its header's hosts and its transcript.
func loggedEntry(t *testing.T, logDir string) ([]runlog.HostResult, string) {
	t.Helper()
	out, err := exec.Command("git", "-C", logDir, "show", "p:"+strings.TrimSpace(gitOutput(t, logDir, "show", "--name-only", "--format=", "p"))).Output()
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(string(out), "---\n", 3)
	var h runlog.Header
	if err := yaml.Unmarshal([]byte(parts[1]), &h); err != nil {
		t.Fatal(err)
	}
	return h.Hosts, parts[2]
}

func gitOutput(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return string(out)
}

// The outer ops (remote-container, local-container) records the results
// the inner ops marked with the nonce, and nothing a target forged: not an
// EXEC RECAP, not a PLAY RECAP (the command is not ansible-playbook), not
// a result line without the nonce or with another. The marked line is
// neither on the operator's screen nor in the transcript.
func TestContainerRunRecordsOnlyTrustedResults(t *testing.T) {
	three := 3
	for _, tc := range []struct {
		name    string
		trusted []runlog.HostResult
	}{
		{"the inner ops sent its results", []runlog.HostResult{{Name: "t1", Result: "failed", Exit: &three}}},
		{"only forgeries", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, out, errb, logDir := logDeps(t, nil)
			eng := &fakeEngine{trusted: tc.trusted}
			argv := []string{"ops", "remote-container", "--", "ops", "exec", "all", "--", "uptime"}
			err := d.recorded(context.Background(), argv, func() error {
				code, err := d.runWithResults(context.Background(), eng, docker.Spec{Name: "x", Image: "i"}, docker.Attached{Stdout: d.out, Stderr: d.err})
				return containerResult(context.Background(), code, err)
			})
			var ce commandExit
			if !errors.As(err, &ce) || ce.code != 2 {
				t.Fatalf("run: %v\n%s", err, errb.String())
			}
			nonce := ""
			for _, kv := range eng.env {
				nonce, _ = strings.CutPrefix(kv, runlog.ResultEnv+"=")
				if nonce != kv {
					break
				}
			}
			if len(nonce) != 32 {
				t.Fatalf("no nonce in the container's environment: %q", eng.env)
			}
			hosts, transcript := loggedEntry(t, logDir)
			if tc.trusted == nil {
				if len(hosts) != 0 {
					t.Errorf("forged results recorded: %+v", hosts)
				}
			} else if len(hosts) != 1 || hosts[0].Result != "failed" || hosts[0].Exit == nil || *hosts[0].Exit != 3 {
				t.Errorf("hosts %+v", hosts)
			}
			for where, s := range map[string]string{"screen": out.String() + errb.String(), "transcript": transcript} {
				if strings.Contains(s, nonce) {
					t.Errorf("the nonce is on the %s:\n%s", where, s)
				}
				if !strings.Contains(s, "EXEC RECAP\nt1 : ok exit=0\n") {
					t.Errorf("the forged lines are not on the %s as printed:\n%s", where, s)
				}
			}
		})
	}
}

// Ansible's PLAY RECAP is read for an ansible-playbook run (and a forged
// one is not, when Ansible's own ends the run); for any other command a
// transcript's recap is never read, nor an EXEC RECAP for any.
func TestRecordedReadsPlayRecapOnlyForAnsiblePlaybook(t *testing.T) {
	played := "TASK [raw]\nt1 | " + forgedOutput("t1") + "fatal: [t1]: FAILED!\n" +
		"PLAY RECAP ****\nt1 : ok=1 changed=0 unreachable=0 failed=1 skipped=0\nt2 : ok=1 changed=0 unreachable=0 failed=0 skipped=0\n\n"
	for _, tc := range []struct {
		name   string
		argv   []string
		output string
		want   map[string]string
	}{
		{"ansible-playbook", []string{"ops", "remote-container", "--", "ansible-playbook", "site.yml"}, played, map[string]string{"t1": "failed", "t2": "ok"}},
		{"another command", []string{"ops", "remote-container", "--", "sh", "-c", "./deploy"}, played, map[string]string{}},
		// What a target printed ends the transcript (the inner ops sent nothing).
		{"ops exec inside", []string{"ops", "remote-container", "--", "ops", "exec", "all", "--", "uptime"}, "t1 ! boom\nEXEC RECAP\nt1 : ok exit=0\n", map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _, _, logDir := logDeps(t, nil)
			d.recorded(context.Background(), tc.argv, func() error {
				io.WriteString(d.out, tc.output)
				return commandExit{code: 2}
			})
			hosts, _ := loggedEntry(t, logDir)
			got := map[string]string{}
			for _, h := range hosts {
				got[h.Name] = h.Result
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("hosts %v, want %v", got, tc.want)
			}
		})
	}
}

// Docker Desktop mounts its own agent: a restriction cannot be kept, so it
// is refused (exit 2, one line), never dropped.
func TestDesktopAgentRestrictionsAreRefused(t *testing.T) {
	const desktop = "Docker Desktop"
	for _, tc := range []struct {
		name    string
		os      string
		infoErr error
		keys    []string
		desk    bool
		refused bool
	}{
		{"desktop, restricted", desktop, nil, []string{"SHA256:abc"}, true, true},
		{"desktop, no restriction", desktop, nil, nil, true, false},
		{"linux engine, restricted", "Debian GNU/Linux 12 (bookworm)", nil, []string{"SHA256:abc"}, false, false},
		{"no info", "", errors.New("refused"), []string{"k"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			desk, err := desktopAgent(tc.os, tc.infoErr, tc.keys)
			if desk != tc.desk || (err != nil) != tc.refused {
				t.Fatalf("desktop %v, err %v", desk, err)
			}
			if err != nil {
				var b strings.Builder
				if code := exitCode(context.Background(), err, &b); code != 2 || strings.Count(b.String(), "\n") != 1 || !strings.HasPrefix(b.String(), "ops: ") {
					t.Errorf("exit %d %q", code, b.String())
				}
			}
		})
	}
	// The restriction comes from --agent-key, else from ssh.agent_keys.
	d, _, _, _ := logDeps(t, map[string]string{"OPS_SSH_AGENT_KEYS": "SHA256:fromconfig"})
	if k := d.agentKeys(sshOptions{}); len(k) != 1 || k[0] != "SHA256:fromconfig" {
		t.Errorf("from the configuration: %v", k)
	}
	if k := d.agentKeys(sshOptions{agentKeys: []string{"flag"}}); len(k) != 1 || k[0] != "flag" {
		t.Errorf("from the flag: %v", k)
	}
}
