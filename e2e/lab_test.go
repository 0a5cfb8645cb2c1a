//go:build e2e

// End-to-end tests against the running lab (make e2e brings it up and sets
// the environment from `ops-lab env`).
package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/docker/docker/client"
	"github.com/mackerelio/mackerel-client-go"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ops-team/ops/internal/lab"
)

func labState(t *testing.T) *lab.State {
	t.Helper()
	dir := os.Getenv("OPS_LAB_DIR")
	if dir == "" {
		t.Fatal("OPS_LAB_DIR is not set: run through make e2e")
	}
	st, err := lab.Load(dir)
	if err != nil {
		t.Fatalf("lab state: %v", err)
	}
	return st
}

func agentAuth(t *testing.T) ssh.AuthMethod {
	t.Helper()
	conn, err := net.Dial("unix", os.Getenv("SSH_AUTH_SOCK"))
	if err != nil {
		t.Fatalf("agent: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return ssh.PublicKeysCallback(agent.NewClient(conn).Signers)
}

func dial(t *testing.T, st *lab.State, user, addr string, auth ssh.AuthMethod) (*ssh.Client, error) {
	t.Helper()
	hk, err := knownhosts.New(st.KnownHosts())
	if err != nil {
		t.Fatal(err)
	}
	return ssh.Dial("tcp", addr, &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{auth}, HostKeyCallback: hk, Timeout: 10 * time.Second})
}

// runOn runs cmd with stdin on an SSH client and returns stdout, stderr and the exit status.
func runOn(t *testing.T, c *ssh.Client, cmd, stdin string) (string, string, int) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr, s.Stdin = &out, &errb, strings.NewReader(stdin)
	err = s.Run(cmd)
	var ee *ssh.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitStatus()
	}
	t.Fatalf("%s: %v", cmd, err)
	return "", "", -1
}

func TestTargetsAcceptTheAgentKeyOnly(t *testing.T) {
	st := labState(t)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	strangerSigner, _ := ssh.NewSignerFromKey(stranger)
	for _, tg := range st.Targets {
		addr := net.JoinHostPort(tg.Addr, fmt.Sprint(tg.Port))
		c, err := dial(t, st, lab.TargetUser, addr, agentAuth(t))
		if err != nil {
			t.Fatalf("%s with the operator's agent key: %v", tg.Name, err)
		}
		out, _, code := runOn(t, c, "id -un", "")
		c.Close()
		if code != 0 || strings.TrimSpace(out) != lab.TargetUser {
			t.Errorf("%s: id -un = %q (exit %d), want %s", tg.Name, out, code, lab.TargetUser)
		}
		if out == "root\n" {
			t.Errorf("%s: logged in as root", tg.Name)
		}
		if c, err := dial(t, st, lab.TargetUser, addr, ssh.PublicKeys(strangerSigner)); err == nil {
			c.Close()
			t.Errorf("%s accepted a key that is not the operator's", tg.Name)
		}
		if c, err := dial(t, st, "root", addr, agentAuth(t)); err == nil {
			c.Close()
			t.Errorf("%s accepted a root login", tg.Name)
		}
	}
}

func TestSudoAsksForThePasswordEveryTime(t *testing.T) {
	st := labState(t)
	tg := st.Targets[0]
	c, err := dial(t, st, lab.TargetUser, net.JoinHostPort(tg.Addr, fmt.Sprint(tg.Port)), agentAuth(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, code := runOn(t, c, "sudo -n true", ""); code == 0 {
		t.Fatal("sudo -n succeeded: sudo must require a password")
	}
	out, _, code := runOn(t, c, "sudo -S -p '' id -u", st.BecomePassword+"\n")
	if code != 0 || strings.TrimSpace(out) != "0" {
		t.Fatalf("sudo with the right password: %q exit %d", out, code)
	}
	// timestamp_timeout=0: right after a success a wrong password still fails.
	if out, _, code := runOn(t, c, "sudo -S -p '' id -u", "wrong-password\n"); code == 0 {
		t.Fatalf("sudo accepted a wrong password: %q", out)
	}
}

func TestRegistryRefusesWrongCredentials(t *testing.T) {
	st := labState(t)
	for _, tc := range []struct {
		user, pass string
		want       int
	}{
		{lab.RegistryUser, st.RegistryPassword, 200},
		{lab.RegistryUser, "wrong", 401},
		{"someone", st.RegistryPassword, 401},
		{"", "", 401},
	} {
		req, _ := http.NewRequest("GET", "http://"+st.RegistryAddr+"/v2/", nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /v2/ as %q: %d, want %d", tc.user, resp.StatusCode, tc.want)
		}
	}
}

func ecrClient(st *lab.State, secret string) *ecr.Client {
	return ecr.New(ecr.Options{
		Region:       lab.AWSRegion,
		BaseEndpoint: aws.String("http://" + st.ECRAddr),
		Credentials:  credentials.NewStaticCredentialsProvider(st.AWSAccessKeyID, secret, ""),
	})
}

func TestECRTokenCarriesRegistryCredentials(t *testing.T) {
	st := labState(t)
	ctx := context.Background()
	out, err := ecrClient(st, st.AWSSecretKey).GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatalf("GetAuthorizationToken: %v", err)
	}
	if len(out.AuthorizationData) != 1 {
		t.Fatalf("%d authorization data", len(out.AuthorizationData))
	}
	ad := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(ad.AuthorizationToken))
	if err != nil {
		t.Fatal(err)
	}
	user, pass, _ := strings.Cut(string(raw), ":")
	if until := time.Until(aws.ToTime(ad.ExpiresAt)); until < 11*time.Hour || until > 13*time.Hour {
		t.Errorf("token expires in %s, want about 12h", until)
	}
	req, _ := http.NewRequest("GET", aws.ToString(ad.ProxyEndpoint)+"/v2/", nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("registry with the ECR token's credentials: %d", resp.StatusCode)
	}
	_, err = ecrClient(st, "wrong-secret").GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Errorf("wrong secret: %v, want 403 InvalidSignatureException", err)
	}
}

func TestMackerelAPIListsTheTargets(t *testing.T) {
	st := labState(t)
	ctx := context.Background()
	cl, err := mackerel.NewClientWithOptions(os.Getenv("MACKEREL_APIKEY"), os.Getenv("MACKEREL_APIBASE"), false)
	if err != nil {
		t.Fatal(err)
	}
	all, err := cl.FindHostsContext(ctx, &mackerel.FindHostsParam{Statuses: []string{"working", "standby", "maintenance", "poweroff"}})
	if err != nil {
		t.Fatal(err)
	}
	addrs := map[string]string{}
	for _, h := range all {
		if !h.IsRetired {
			addrs[h.Name] = h.Interfaces[0].IPAddress
		}
	}
	for _, tg := range st.Targets {
		if addrs[tg.Name] != tg.Addr {
			t.Errorf("Mackerel lists %s at %q, want %s", tg.Name, addrs[tg.Name], tg.Addr)
		}
	}
	if len(addrs) != len(st.Targets) {
		t.Errorf("Mackerel lists %d live hosts, want %d", len(addrs), len(st.Targets))
	}
	bad, _ := mackerel.NewClientWithOptions("wrong-key", os.Getenv("MACKEREL_APIBASE"), false)
	_, err = bad.FindHostsContext(ctx, &mackerel.FindHostsParam{})
	var ae *mackerel.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusForbidden {
		t.Errorf("wrong API key: %v, want a 403 APIError", err)
	}
}

// The operation server's engine is reached the way ops reaches it: the
// login user's SSH connection dials the engine's unix socket.
func TestOperationServerEngineIsSeparate(t *testing.T) {
	st := labState(t)
	ctx := context.Background()
	c, err := dial(t, st, lab.OpUser, st.OpServerAddr, agentAuth(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	remote, err := client.NewClientWithOpts(client.WithHost("http://opserver"), client.WithAPIVersionNegotiation(),
		client.WithDialContext(func(ctx context.Context, _, _ string) (net.Conn, error) {
			return c.DialContext(ctx, "unix", st.OpServerSocket)
		}))
	if err != nil {
		t.Fatal(err)
	}
	local, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	ri, err := remote.Info(ctx)
	if err != nil {
		t.Fatalf("operation server engine over SSH as %s: %v", lab.OpUser, err)
	}
	li, err := local.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// (Both engines share /etc/docker/key.json and so their ID: compare data roots.)
	if ri.DockerRootDir == li.DockerRootDir {
		t.Fatalf("same engine: both keep their data in %s", ri.DockerRootDir)
	}
	if _, err := local.ImageInspect(ctx, lab.BaseImage); err != nil {
		t.Fatalf("local engine lacks %s: %v", lab.BaseImage, err)
	}
	if _, err := remote.ImageInspect(ctx, lab.BaseImage); !client.IsErrNotFound(err) {
		t.Fatalf("operation server engine sees the local image %s (err %v)", lab.BaseImage, err)
	}
	// The login user is not root there.
	out, _, _ := runOn(t, c, "id -u", "")
	if strings.TrimSpace(out) == "0" {
		t.Fatal("operation server login user is root")
	}
	// Its mackerel-agent.conf carries the lab's API key and is readable by the login user.
	out, _, code := runOn(t, c, "cat "+st.MackerelConf, "")
	if code != 0 || !strings.Contains(out, os.Getenv("MACKEREL_APIKEY")) {
		t.Fatalf("mackerel-agent.conf on the operation server: %q (exit %d)", out, code)
	}
}

func TestLabUpAgainIsANoOp(t *testing.T) {
	st := labState(t)
	out, err := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops-lab"), "--dir", st.Dir, "up", "--hosts", fmt.Sprint(len(st.Targets))).CombinedOutput()
	if err != nil {
		t.Fatalf("second up: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "already running") {
		t.Errorf("second up did not report the running lab:\n%s", out)
	}
	again, err := lab.Load(st.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again.Procs) != fmt.Sprint(st.Procs) {
		t.Errorf("second up changed the processes:\n%v\n%v", st.Procs, again.Procs)
	}
}
