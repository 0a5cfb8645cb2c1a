package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/client"
	"github.com/urfave/cli/v2"

	"github.com/ops-team/ops/helper/docker"
	"github.com/ops-team/ops/helper/mackerel"
	"github.com/ops-team/ops/helper/runlog"
	"github.com/ops-team/ops/helper/sshx"
)

// Paths inside the container.
const (
	containerAgent     = "/run/ops/agent.sock"
	containerHeartbeat = "/run/ops/heartbeat.sock"
	containerWorkDir   = "/work"
	containerStateDir  = "/var/lib/ops"
)

type containerOptions struct {
	ssh        sshOptions
	copies     []string
	remoteUser string
	cmd        []string
}

func containerFlags() []cli.Flag {
	return append(sshFlags(),
		&cli.StringSliceFlag{Name: "copy", Usage: "copy a local file or folder into the container's working directory (repeatable)"},
		&cli.StringFlag{Name: "remote-user", Usage: "ANSIBLE_REMOTE_USER in the container (default: target.user, else the local user)"},
	)
}

func containerOptionsFrom(c *cli.Context) (containerOptions, error) {
	if c.NArg() == 0 {
		return containerOptions{}, usagef("%s needs a command: ops %s [--] CMD [ARG...]", c.Command.Name, c.Command.Name)
	}
	return containerOptions{ssh: sshOptionsFrom(c), copies: c.StringSlice("copy"), remoteUser: c.String("remote-user"), cmd: c.Args().Slice()}, nil
}

func remoteContainerCommand(d *deps) *cli.Command {
	return containerCommand(d, "remote-container",
		"run a command in the deployed image on the operation server (agent forwarded, interactive at a terminal)", runRemoteContainer)
}

func localContainerCommand(d *deps) *cli.Command {
	return containerCommand(d, "local-container",
		"run a command in the image on the local engine, in the working directory, as the caller", runLocalContainer)
}

func containerCommand(d *deps, name, usage string, run func(context.Context, *deps, containerOptions) error) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: "[--] CMD [ARG...]", Flags: containerFlags(),
		Action: func(c *cli.Context) error {
			o, err := containerOptionsFrom(c)
			if err != nil {
				return err
			}
			return d.recorded(c.Context, d.argv, func() error { return run(c.Context, d, o) })
		},
	}
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// containerName says who runs what since when: ops-USER-YYYYMMDD-HHMMSS-RAND.
func containerName(user string) string {
	return fmt.Sprintf("ops-%s-%s-%s", unsafeName.ReplaceAllString(user, "_"), time.Now().Format("20060102-150405"), randomName()[:4])
}

// containerEnv: the agent, the remote user, and the configured names
// passed through (their values go in the API call, never on a command line).
func (d *deps) containerEnv(o containerOptions, withAgent bool) []string {
	user := o.remoteUser
	if user == "" {
		user = d.cfg.String("target.user")
	}
	if user == "" {
		user = localUser()
	}
	// An ops run inside does not log by itself: this run records it.
	env := []string{"ANSIBLE_REMOTE_USER=" + user, "OPS_OPERATOR=" + localUser(), "OPS_LOG_ENABLED=false"}
	if withAgent {
		env = append(env, "SSH_AUTH_SOCK="+containerAgent)
	}
	for _, name := range d.cfg.List("container.env") {
		if v := d.getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// containerMounts are container.mounts, read-only, each source required
// to exist on the operation server (the engine never creates one). When
// the key is not configured at all (its default), the server's
// mackerel-agent.conf is mounted where mackerel-inventory reads it, if
// exists (asked on the server) says it is there; an explicit empty list
// mounts nothing.
func (d *deps) containerMounts(exists func(path string) (bool, error)) ([]docker.ReadOnlyMount, error) {
	v := d.cfg.Get("container.mounts")
	if v.Source == "default" && len(v.Items) == 0 {
		if exists == nil {
			return nil, nil
		}
		ok, err := exists(mackerel.DefaultAgentConf)
		if err != nil {
			return nil, fmt.Errorf("look for %s on the operation server: %w", mackerel.DefaultAgentConf, err)
		}
		if !ok {
			return nil, nil
		}
		return []docker.ReadOnlyMount{{Source: mackerel.DefaultAgentConf, Target: mackerel.DefaultAgentConf}}, nil
	}
	var mounts []docker.ReadOnlyMount
	for _, m := range v.Items {
		src, dst, ok := strings.Cut(m, ":")
		if !ok || !filepath.IsAbs(src) || !filepath.IsAbs(dst) {
			return nil, usagef("container.mounts: %q is not HOSTPATH:CONTAINERPATH", m)
		}
		mounts = append(mounts, docker.ReadOnlyMount{Source: src, Target: dst})
	}
	return mounts, nil
}

// serverFileExists asks the operation server whether path is a file.
func serverFileExists(ctx context.Context, c *sshx.Client) func(string) (bool, error) {
	return func(path string) (bool, error) {
		code, err := c.Run(ctx, sshx.RunOptions{Cmd: "test -f " + sshx.Quote(path), Stdout: io.Discard, Stderr: io.Discard})
		if err != nil {
			return false, err
		}
		return code == 0, nil
	}
}

// attachedStreams joins the container to this terminal (raw mode, resizes)
// or to plain pipes.
func (d *deps) attachedStreams(copies []string) (docker.Attached, func(), error) {
	a := docker.Attached{Stdin: d.in, Stdout: d.out, Stderr: d.err, CopyIn: copies}
	fd, ok := d.stdinTerminal()
	if !ok {
		return a, func() {}, nil
	}
	w, h, resize, restore, err := rawTerminal(fd, func(w, h int) [2]uint { return [2]uint{uint(w), uint(h)} })
	if err != nil {
		return a, nil, err
	}
	a.TTY, a.Width, a.Height, a.Resize = true, uint(w), uint(h), resize
	return a, restore, nil
}

// serveHeartbeat answers each connection with one byte: the container's
// supervisor ends its command when these stop.
func serveHeartbeat(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		_, _ = c.Write([]byte{1})
		c.Close()
	}
}

func supervised(cmd []string) []string {
	return append([]string{"ops", "supervise", "--heartbeat", containerHeartbeat, "--"}, cmd...)
}

// requireImage checks that ref is on the engine, and notes in the run log
// which image ran: its digest and source revision.
func (d *deps) requireImage(ctx context.Context, cli client.ImageAPIClient, ref, where, hint string) error {
	ins, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		if client.IsErrNotFound(err) {
			return fmt.Errorf("image %s is not on %s: run %s", ref, where, hint)
		}
		return err
	}
	if d.header != nil {
		d.header.Image = ref
		d.header.ImageDigest = ins.ID
		if digest, _ := docker.RepoDigest(ctx, cli, ref); digest != "" {
			d.header.ImageDigest = digest
		}
		if ins.Config != nil {
			d.header.ImageRevision = ins.Config.Labels["org.opencontainers.image.revision"]
		}
	}
	return nil
}

func runRemoteContainer(ctx context.Context, d *deps, o containerOptions) error {
	ref, err := d.imageRef()
	if err != nil {
		return err
	}
	if _, err := d.containerMounts(nil); err != nil {
		return err // a mistake in container.mounts, before connecting
	}
	client, remote, closeServer, err := d.connectServer(ctx, o.ssh)
	if err != nil {
		return err
	}
	defer closeServer()
	mounts, err := d.containerMounts(serverFileExists(ctx, client))
	if err != nil {
		return err
	}
	var binds []string
	if err := d.requireImage(ctx, remote, ref, "the operation server", "ops deploy"); err != nil {
		return err
	}
	d.sweepContainers(ctx, remote, func(path string) bool {
		c, err := client.Dial("unix", path)
		if err != nil {
			return false
		}
		return answers(c)
	})
	fwd, err := d.forwardedAgent(client, o.ssh)
	if err != nil {
		return err
	}
	tag := "/tmp/ops-" + randomName()
	hb, err := client.ListenUnix(tag + ".heartbeat.sock")
	if err != nil {
		return fmt.Errorf("open the heartbeat socket on the operation server: %w", err)
	}
	go serveHeartbeat(hb)
	sockets := []string{tag + ".heartbeat.sock"}
	binds = append(binds, tag+".heartbeat.sock:"+containerHeartbeat, "ops-state-"+unsafeName.ReplaceAllString(localUser(), "_")+":"+containerStateDir)
	if fwd != nil {
		stop, err := client.ServeOnServer(fwd, tag+".agent.sock")
		if err != nil {
			hb.Close()
			return err
		}
		defer stop()
		binds = append(binds, tag+".agent.sock:"+containerAgent)
	}
	defer func() {
		hb.Close()
		removeRemote(client, sockets)
	}()
	spec := docker.Spec{
		Name: containerName(localUser()), Image: ref, Cmd: supervised(o.cmd),
		Env: d.containerEnv(o, fwd != nil), Binds: binds, ReadOnly: mounts, HostNetwork: true, WorkingDir: containerWorkDir,
		Labels:    map[string]string{"io.ops.operator": localUser(), "io.ops.command": strings.Join(o.cmd, " ")},
		Heartbeat: tag + ".heartbeat.sock",
	}
	a, restore, err := d.attachedStreams(o.copies)
	if err != nil {
		return err
	}
	code, err := d.runWithResults(ctx, remote, spec, a)
	restore()
	if fwd != nil && fwd.Signatures() > 0 {
		fmt.Fprintf(d.err, "ops: the operation server used the forwarded agent for %d signature(s)\n", fwd.Signatures())
	}
	if err != nil {
		// A broken stream and the end of the connection arrive in either order.
		select {
		case <-client.Done():
			err = &sshx.ConnectionLostError{Err: err}
		case <-time.After(2 * time.Second):
		}
	}
	return containerResult(ctx, code, err)
}

func removeRemote(c *sshx.Client, paths []string) {
	s, err := c.NewSession()
	if err != nil {
		return
	}
	defer s.Close()
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = sshx.Quote(p)
	}
	_ = s.Run("rm -f " + strings.Join(q, " "))
}

func containerResult(ctx context.Context, code int, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return commandExit{code: code}
	}
	return nil
}

func runLocalContainer(ctx context.Context, d *deps, o containerOptions) error {
	ref, err := d.imageRef()
	if err != nil {
		return err
	}
	cli, err := localEngine(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	if err := d.requireImage(ctx, cli, ref, "the local engine", "ops pull (or ops build)"); err != nil {
		return err
	}
	d.sweepContainers(ctx, cli, func(path string) bool {
		c, err := net.DialTimeout("unix", path, 2*time.Second)
		if err != nil {
			return false
		}
		return answers(c)
	})
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	if d.header != nil {
		d.header.Checkout = runlog.CheckoutOf(ctx, wd)
	}
	home, _ := os.UserHomeDir()
	state := filepath.Join(home, ".local", "state", "ops")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	sockDir, err := os.MkdirTemp("", "ops-container-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sockDir)
	hb, err := net.Listen("unix", filepath.Join(sockDir, "heartbeat.sock"))
	if err != nil {
		return err
	}
	defer hb.Close()
	go serveHeartbeat(hb)
	binds := []string{wd + ":" + containerWorkDir, state + ":" + containerStateDir, filepath.Join(sockDir, "heartbeat.sock") + ":" + containerHeartbeat}
	withAgent := false
	if sock := d.getenv("SSH_AUTH_SOCK"); sock != "" && !o.ssh.noAgent {
		info, err := cli.Info(ctx)
		desktop, err := desktopAgent(info.OperatingSystem, err, d.agentKeys(o.ssh))
		if err != nil {
			return err
		}
		if desktop {
			// Docker Desktop cannot mount host sockets; it forwards the agent itself.
			binds = append(binds, "/run/host-services/ssh-auth.sock:"+containerAgent)
			withAgent = true
		} else {
			conn, err := net.Dial("unix", sock)
			if err != nil {
				return fmt.Errorf("SSH agent at %s: %v", sock, err)
			}
			defer conn.Close()
			fwd, err := d.forwardedAgent(&sshx.Client{Agent: agentClient(conn)}, o.ssh)
			if err != nil {
				return err
			}
			l, err := net.Listen("unix", filepath.Join(sockDir, "agent.sock"))
			if err != nil {
				return err
			}
			defer l.Close()
			go func() { _ = fwd.Serve(l) }()
			binds = append(binds, filepath.Join(sockDir, "agent.sock")+":"+containerAgent)
			withAgent = true
		}
	}
	spec := docker.Spec{
		Name: containerName(localUser()), Image: ref, Cmd: supervised(o.cmd),
		Env:   append(d.containerEnv(o, withAgent), "HOME=/tmp"),
		Binds: binds, HostNetwork: true, WorkingDir: containerWorkDir,
		User:      fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()),
		Labels:    map[string]string{"io.ops.operator": localUser(), "io.ops.command": strings.Join(o.cmd, " ")},
		Heartbeat: filepath.Join(sockDir, "heartbeat.sock"),
	}
	a, restore, err := d.attachedStreams(o.copies)
	if err != nil {
		return err
	}
	code, err := d.runWithResults(ctx, cli, spec, a)
	restore()
	return containerResult(ctx, code, err)
}

// agentKeys are the keys the forwarded agent is restricted to, if any.
func (d *deps) agentKeys(o sshOptions) []string {
	if len(o.agentKeys) > 0 {
		return o.agentKeys
	}
	return d.cfg.List("ssh.agent_keys")
}

// desktopAgent says whether the local engine is Docker Desktop (by its
// info's operating system; infoErr: the info could not be read), where
// the container gets Desktop's own forwarded agent: ops cannot serve its
// read-only, restricted agent there, so a restriction asked for is refused
// rather than silently dropped.
func desktopAgent(operatingSystem string, infoErr error, agentKeys []string) (bool, error) {
	if infoErr != nil || !strings.Contains(operatingSystem, "Docker Desktop") {
		return false, nil
	}
	if len(agentKeys) > 0 {
		return true, usagef("on Docker Desktop the container gets Desktop's own SSH agent, which ops cannot restrict: drop --agent-key and ssh.agent_keys, or use --no-agent")
	}
	return true, nil
}

// runWithResults runs the container; when this run is recorded, it passes
// the ops inside a nonce (runlog.ResultEnv) with which an inner ops exec or
// ops play marks its per-host results, takes those lines out of the output
// (the operator's and the transcript) and records them as the run's hosts.
func (d *deps) runWithResults(ctx context.Context, cli client.ContainerAPIClient, spec docker.Spec, a docker.Attached) (int, error) {
	if d.header == nil {
		return docker.RunAttached(ctx, cli, spec, a)
	}
	nonce := runlog.NewNonce()
	d.secret(nonce) // masked should the command print its environment
	spec.Env = append(slices.Clip(spec.Env), runlog.ResultEnv+"="+nonce)
	results := runlog.NewResults(nonce)
	stdout, stderr := results.Filter(a.Stdout), results.Filter(a.Stderr)
	a.Stdout, a.Stderr = stdout, stderr
	code, err := docker.RunAttached(ctx, cli, spec, a)
	_ = stdout.Close()
	_ = stderr.Close()
	if hosts := results.Hosts(); hosts != nil {
		d.header.Hosts = hosts
	}
	return code, err
}

// sweepContainers removes the containers a killed ops left created but
// never started (they hold their environment's values), saying so in one
// line; it never fails the run. alive asks a heartbeat socket whether its
// ops still lives.
func (d *deps) sweepContainers(ctx context.Context, e docker.SweepEngine, alive func(string) bool) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	removed, _ := docker.SweepNeverStarted(sctx, e, docker.SweepOptions{MinAge: time.Minute, Alive: alive})
	if len(removed) > 0 {
		fmt.Fprintf(d.err, "ops: removed %d container(s) a killed ops left never started: %s\n", len(removed), strings.Join(removed, ", "))
	}
}

// answers reads the one byte a live heartbeat socket sends, within two
// seconds.
func answers(c net.Conn) bool {
	defer c.Close()
	t := time.AfterFunc(2*time.Second, func() { c.Close() })
	defer t.Stop()
	b := make([]byte, 1)
	n, _ := c.Read(b)
	return n == 1
}
