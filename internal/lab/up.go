// Package lab brings up and tears down the local sandbox that stands in for a
// data center: the local Docker engine and base image, a real registry, the
// fake ECR token and Mackerel APIs, an operation server (real sshd plus its
// own Docker engine) and N target hosts (real sshd with password sudo).
package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"
)

// Options control Up and Down.
type Options struct {
	Dir   string    // state directory, absolute
	Hosts int       // number of targets
	Self  string    // the ops-lab binary, started again to serve the fakes
	Out   io.Writer // progress
}

type upper struct {
	o  Options
	st *State
}

func (u *upper) logf(format string, a ...any) { fmt.Fprintf(u.o.Out, "lab: "+format+"\n", a...) }

// Up starts the lab, or reports its status when it already runs.
func Up(ctx context.Context, o Options) (err error) {
	if o.Hosts < 1 || o.Hosts > 1000 {
		return fmt.Errorf("hosts must be between 1 and 1000, got %d", o.Hosts)
	}
	if st, lerr := Load(o.Dir); lerr == nil {
		if st.Running() && len(st.Targets) == o.Hosts {
			fmt.Fprintln(o.Out, "lab: already running")
			return Status(o.Out, st)
		}
		fmt.Fprintf(o.Out, "lab: running with %d hosts or partly; restarting with %d\n", len(st.Targets), o.Hosts)
		if err := Down(ctx, o); err != nil {
			return err
		}
	}
	if _, err := os.Stat(RunDir); err == nil {
		// A lab elsewhere on this machine, or one that was never stopped: only
		// one lab runs on a machine, since it uses fixed users and addresses.
		fmt.Fprintln(o.Out, "lab: removing the leftovers of an earlier lab")
		if err := Down(ctx, Options{Dir: o.Dir, Out: io.Discard}); err != nil {
			return err
		}
	}
	start := time.Now()
	u := &upper{o: o, st: &State{Dir: o.Dir}}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return err
	}
	if err := u.st.save(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			u.logf("start failed; removing what was started")
			if derr := Down(context.Background(), Options{Dir: o.Dir, Out: io.Discard}); derr != nil {
				err = errors.Join(err, derr)
			}
		}
	}()
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"packages", u.packages},
		{"local engine", u.localEngine},
		{"base image", u.baseImage},
		{"users", u.users},
		{"secrets", u.secrets},
		{"registry", u.registry},
		{"fake APIs", u.fakes},
		{"operator agent", u.agent},
		{"operation server engine", u.opEngine},
		{"operation server sshd", u.opSSHD},
		{"targets", u.targets},
		{"config", u.files},
	}
	for _, s := range steps {
		t := time.Now()
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if err := u.st.save(); err != nil {
			return err
		}
		u.logf("%-24s ok (%.1fs)", s.name, time.Since(t).Seconds())
	}
	u.logf("up in %.1fs", time.Since(start).Seconds())
	return Status(o.Out, u.st)
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Deps installs Debian's packages that the lab, the tests and make bench
// need, for whatever is missing (make test runs it first).
func Deps(ctx context.Context, o Options) error {
	return (&upper{o: o}).packages(ctx)
}

// packages installs Debian's packages for whatever is missing.
func (u *upper) packages(ctx context.Context) error {
	need := map[string]string{
		"/usr/sbin/dockerd":        "docker.io",
		"/usr/sbin/sshd":           "openssh-server",
		"/usr/bin/ssh-agent":       "openssh-client",
		"/usr/bin/sudo":            "sudo",
		"/usr/sbin/debootstrap":    "debootstrap",
		"/usr/bin/docker-registry": "docker-registry",
		"/usr/bin/ansible":         "ansible-core",
		"/usr/bin/git":             "git",
		"/usr/sbin/ip":             "iproute2",
		"/usr/sbin/useradd":        "passwd",
		"/usr/bin/parallel-ssh":    "pssh", // make bench's peer
		"/usr/bin/time":            "time", // make bench's measure
		"/usr/sbin/iptables":       "iptables",
	}
	var missing []string
	for path, pkg := range need {
		if _, err := os.Stat(path); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	u.logf("installing %s", strings.Join(missing, " "))
	if err := run(ctx, "apt-get", "update", "-qq"); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"install", "-y", "-qq", "--no-install-recommends", "ca-certificates", "iptables", "xz-utils"}, missing...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install: %w: %s", err, tailString(string(out), 5))
	}
	return nil
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (u *upper) spawn(name string, argv ...string) (Proc, error) {
	p, err := spawn(name, filepath.Join(u.o.Dir, "logs", name+".log"), argv, os.Environ())
	if err != nil {
		return p, err
	}
	u.st.Procs = append(u.st.Procs, p)
	return p, u.st.save()
}

// waitFor polls check until it succeeds, the process dies or the time is up.
func waitFor(ctx context.Context, p Proc, d time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		if p.Pid != 0 && !p.Alive() {
			return fmt.Errorf("%s exited: %s", p.Name, tail(p.Log, 5))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v; log: %s", p.Name, d, last, tail(p.Log, 5))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func dialCheck(addr string) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (u *upper) users(ctx context.Context) error {
	// Leftovers of a lab that was not stopped cleanly are ours to replace.
	for _, name := range []string{OpUser, TargetUser} {
		if run(ctx, "id", name) == nil {
			_ = killUserProcs(name)
			if err := run(ctx, "userdel", "-r", name); err != nil {
				return err
			}
		}
	}
	if run(ctx, "getent", "group", DockerGroup) != nil {
		if err := run(ctx, "groupadd", "--system", DockerGroup); err != nil {
			return err
		}
	}
	u.st.CreatedGroups = append(u.st.CreatedGroups, DockerGroup)
	if err := run(ctx, "useradd", "--create-home", "--shell", "/bin/bash", "--groups", DockerGroup, OpUser); err != nil {
		return err
	}
	u.st.CreatedUsers = append(u.st.CreatedUsers, OpUser)
	// Not locked (sshd refuses locked accounts) but with no usable password.
	if err := run(ctx, "usermod", "-p", "*", OpUser); err != nil {
		return err
	}
	if err := run(ctx, "useradd", "--create-home", "--shell", "/bin/bash", TargetUser); err != nil {
		return err
	}
	u.st.CreatedUsers = append(u.st.CreatedUsers, TargetUser)
	return nil
}

func (u *upper) secrets(ctx context.Context) error {
	st := u.st
	st.BecomePassword = "become-" + randomHex(8)
	st.RegistryPassword = randomHex(16)
	st.AWSAccessKeyID = "AKIALAB" + strings.ToUpper(randomHex(7))
	st.AWSSecretKey = randomHex(20)
	st.MackerelAPIKey = randomHex(22)
	cmd := exec.CommandContext(ctx, "chpasswd")
	cmd.Stdin = strings.NewReader(TargetUser + ":" + st.BecomePassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("chpasswd: %w: %s", err, out)
	}
	sudoers := fmt.Sprintf("# written by ops-lab; removed by lab-down\nDefaults:%[1]s timestamp_timeout=0\n%[1]s ALL=(ALL:ALL) ALL\n", TargetUser)
	tmp := filepath.Join(u.o.Dir, "sudoers.tmp")
	if err := os.WriteFile(tmp, []byte(sudoers), 0o440); err != nil {
		return err
	}
	if err := run(ctx, "visudo", "-cf", tmp); err != nil {
		return err
	}
	st.CreatedFiles = append(st.CreatedFiles, SudoersFile)
	return os.Rename(tmp, SudoersFile)
}

func (u *upper) registry(ctx context.Context) error {
	dir := filepath.Join(u.o.Dir, "registry")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(u.st.RegistryPassword), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(RegistryUser+":"+string(hash)+"\n"), 0o600); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	u.st.RegistryAddr = addr
	conf := fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
auth:
  htpasswd:
    realm: ops-lab
    path: %s
`, filepath.Join(dir, "data"), addr, filepath.Join(dir, "htpasswd"))
	confPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return err
	}
	p, err := u.spawn("registry", "/usr/bin/docker-registry", "serve", confPath)
	if err != nil {
		return err
	}
	return waitFor(ctx, p, 20*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("GET /v2/ without credentials: %s, want 401", resp.Status)
		}
		return nil
	})
}

func (u *upper) fakes(ctx context.Context) error {
	var err error
	if u.st.ECRAddr, err = freeAddr(); err != nil {
		return err
	}
	if u.st.MackerelAddr, err = freeAddr(); err != nil {
		return err
	}
	if u.st.Targets, err = planTargets(u.o.Hosts); err != nil {
		return err
	}
	if err := u.st.save(); err != nil {
		return err
	}
	p, err := u.spawn("fakes", u.o.Self, "serve", "--dir", u.o.Dir)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, p, 10*time.Second, dialCheck(u.st.ECRAddr)); err != nil {
		return err
	}
	return waitFor(ctx, p, 10*time.Second, dialCheck(u.st.MackerelAddr))
}

// planTargets gives host i the address 127.0.(1+i/250).(1+i%250), port 22.
func planTargets(n int) ([]Target, error) {
	ts := make([]Target, n)
	for i := range ts {
		ts[i] = Target{
			Name: fmt.Sprintf("lab%02d", i+1),
			Addr: fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250),
			Port: 22,
		}
		l, err := net.Listen("tcp", net.JoinHostPort(ts[i].Addr, "22"))
		if err != nil {
			return nil, fmt.Errorf("target %s needs %s:22 free: %w", ts[i].Name, ts[i].Addr, err)
		}
		l.Close()
	}
	return ts, nil
}

func (u *upper) agent(ctx context.Context) error {
	dir := filepath.Join(u.o.Dir, "operator")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	sock := filepath.Join(dir, "agent.sock")
	if len(sock) > 100 {
		return fmt.Errorf("agent socket path %s is too long for a unix socket; use a shorter lab directory", sock)
	}
	p, err := u.spawn("ssh-agent", "/usr/bin/ssh-agent", "-D", "-a", sock)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, p, 10*time.Second, func() error { _, err := os.Stat(sock); return err }); err != nil {
		return err
	}
	pub, err := addOperatorKey(sock)
	if err != nil {
		return err
	}
	u.st.AgentSock = sock
	u.st.OperatorKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " ops-lab-operator"
	return nil
}

func (u *upper) opEngine(ctx context.Context) error {
	if run(ctx, "ip", "link", "show", Bridge) != nil {
		if err := run(ctx, "ip", "link", "add", Bridge, "type", "bridge"); err != nil {
			return err
		}
	}
	u.st.CreatedBridge = true
	_ = run(ctx, "ip", "addr", "add", bridgeCIDR, "dev", Bridge)
	if err := run(ctx, "ip", "link", "set", Bridge, "up"); err != nil {
		return err
	}
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return err
	}
	u.st.CreatedFiles = append(u.st.CreatedFiles, RunDir)
	sock := filepath.Join(RunDir, "docker.sock")
	u.st.OpServerSocket = sock
	p, err := u.spawn("opserver-dockerd", "/usr/sbin/dockerd",
		"--host", "unix://"+sock,
		"--group", DockerGroup,
		"--data-root", filepath.Join(u.o.Dir, "opserver", "docker"),
		"--exec-root", filepath.Join(RunDir, "exec"),
		"--pidfile", filepath.Join(RunDir, "dockerd.pid"),
		"--bridge", Bridge,
		"--iptables=false", "--ip-masq=false",
		"--containerd-namespace", "opslab",
		"--containerd-plugins-namespace", "opslab-plugins",
	)
	if err != nil {
		return err
	}
	return waitFor(ctx, p, 60*time.Second, func() error { return pingEngine(ctx, "unix://"+sock) })
}

func sshdConfig(listen []string, hostKey, authKeys, user string) string {
	var b strings.Builder
	for _, l := range listen {
		fmt.Fprintf(&b, "ListenAddress %s\n", l)
	}
	fmt.Fprintf(&b, `HostKey %s
PidFile none
AuthorizedKeysFile %s
AllowUsers %s
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowAgentForwarding yes
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
StreamLocalBindUnlink yes
MaxStartups 1000:30:2000
MaxSessions 100
ClientAliveInterval 15
LogLevel INFO
Subsystem sftp internal-sftp
`, hostKey, authKeys, user)
	return b.String()
}

func (u *upper) startSSHD(ctx context.Context, name, dir string, listen []string, user string) (ssh.PublicKey, error) {
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, err
	}
	key, err := writeHostKey(filepath.Join(dir, "ssh_host_ed25519_key"))
	if err != nil {
		return nil, err
	}
	// sshd reads authorized_keys as the user, who may not be able to reach
	// the lab directory (a clone under /root, say): keep them in RunDir.
	auth := filepath.Join(RunDir, "authorized_keys", name)
	if err := os.MkdirAll(filepath.Dir(auth), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(auth, []byte(u.st.OperatorKey+"\n"), 0o644); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(conf, []byte(sshdConfig(listen, filepath.Join(dir, "ssh_host_ed25519_key"), auth, user)), 0o600); err != nil {
		return nil, err
	}
	if err := run(ctx, "/usr/sbin/sshd", "-t", "-f", conf); err != nil {
		return nil, err
	}
	p, err := u.spawn(name, "/usr/sbin/sshd", "-D", "-e", "-f", conf)
	if err != nil {
		return nil, err
	}
	for _, l := range listen {
		if err := waitFor(ctx, p, 10*time.Second, dialCheck(l)); err != nil {
			return nil, err
		}
	}
	return key, nil
}

func (u *upper) opSSHD(ctx context.Context) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	u.st.OpServerAddr = addr
	key, err := u.startSSHD(ctx, "opserver-sshd", filepath.Join(u.o.Dir, "opserver"), []string{addr}, OpUser)
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(addr)
	pn, _ := strconv.Atoi(port)
	if err := u.appendKnownHost(host, pn, key); err != nil {
		return err
	}
	// The operation server is monitored by Mackerel: its agent's config
	// holds the API key, where the seed's server has it (remote-container
	// mounts it by default). A real agent's file is never overwritten.
	conf := MackerelAgentConf
	if b, err := os.ReadFile(conf); err == nil && !strings.HasPrefix(string(b), labConfMark) {
		return fmt.Errorf("%s exists and was not written by ops-lab (a real mackerel-agent?): the lab would overwrite it", conf)
	}
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("%s the operation server's mackerel-agent configuration\napikey = %q\napibase = %q\n", labConfMark, u.st.MackerelAPIKey, "http://"+u.st.MackerelAddr)), 0o640); err != nil {
		return err
	}
	if err := run(ctx, "chown", "root:"+OpUser, conf); err != nil {
		return err
	}
	u.st.MackerelConf = conf
	return nil
}

func (u *upper) appendKnownHost(host string, port int, key ssh.PublicKey) error {
	f, err := os.OpenFile(u.st.KnownHosts(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintln(f, knownHostsLine(host, port, key))
	return err
}

func (u *upper) targets(ctx context.Context) error {
	for i := range u.st.Targets {
		t := &u.st.Targets[i]
		key, err := u.startSSHD(ctx, "target-"+t.Name, filepath.Join(u.o.Dir, "targets", t.Name), []string{net.JoinHostPort(t.Addr, strconv.Itoa(t.Port))}, TargetUser)
		if err != nil {
			return err
		}
		t.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
		if err := u.appendKnownHost(t.Addr, t.Port, key); err != nil {
			return err
		}
	}
	return nil
}
