package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/ops-team/ops/helper/mackerel"
	"github.com/ops-team/ops/helper/registry"
)

// doctorTimeout bounds each of ops doctor's checks.
const doctorTimeout = 10 * time.Second

func doctorCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check this machine: config files, local Docker engine, ssh agent and its keys, registry credentials, the Mackerel key, git and the run log's remote",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "a JSON array of {check, ok, detail} on stdout"}},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("doctor takes no arguments")
			}
			return runDoctor(c.Context, d, c.Bool("json"))
		},
	}
}

// doctorClients are what ops doctor's checks talk to; a nil field is the
// real client (tests put fakes in deps.doctor).
type doctorClients struct {
	// engine pings the local engine and says which one answered.
	engine func(ctx context.Context) (string, error)
	// agentKeys lists the keys of the agent at sock, one description each.
	agentKeys func(ctx context.Context, sock string) ([]string, error)
	// registryAuth finds credentials for ref's registry.
	registryAuth func(ctx context.Context, ref string) (registry.Auth, error)
	// lookGit finds the git executable.
	lookGit func() (string, error)
	// lsRemote reaches the run log's remote.
	lsRemote func(ctx context.Context, remote string) error
}

func (d *deps) doctorClients() doctorClients {
	c := d.doctor
	if c.engine == nil {
		c.engine = func(ctx context.Context) (string, error) {
			cli, err := localEngine(ctx)
			if err != nil {
				return "", err
			}
			defer cli.Close()
			v, err := cli.ServerVersion(ctx)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("Docker %s at %s", v.Version, cli.DaemonHost()), nil
		}
	}
	if c.agentKeys == nil {
		c.agentKeys = listAgentKeys
	}
	if c.registryAuth == nil {
		c.registryAuth = d.registryAuth
	}
	if c.lookGit == nil {
		c.lookGit = func() (string, error) { return exec.LookPath("git") }
	}
	if c.lsRemote == nil {
		c.lsRemote = func(ctx context.Context, remote string) error {
			r := d.logRepo(ctx)
			r.Remote = remote
			return r.Reachable(ctx)
		}
	}
	return c
}

func listAgentKeys(ctx context.Context, sock string) ([]string, error) {
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	keys, err := agent.NewClient(conn).List()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimSpace(k.Type() + " " + ssh.FingerprintSHA256(k) + " " + k.Comment)
	}
	return out, nil
}

func runDoctor(ctx context.Context, d *deps, asJSON bool) error {
	cl := &checklist{d: d, json: asJSON}
	c := d.doctorClients()
	bounded := func(f func(ctx context.Context)) {
		ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
		defer cancel()
		f(ctx)
	}

	// Which files were read.
	files := "none found (defaults and environment only)"
	if len(d.cfg.Files) > 0 {
		files = "read " + strings.Join(d.cfg.Files, " over ")
	}
	if host := d.cfg.Get("server.host"); host.Raw == "" {
		cl.line(false, "config", "%s; server.host is not set: run ops init --server DEST (or set OPS_SERVER_HOST)", files)
	} else {
		cl.line(true, "config", "%s; operation server %s (%s)", files, host.Raw, host.Source)
	}

	bounded(func(ctx context.Context) {
		v, err := c.engine(ctx)
		if err != nil {
			cl.line(false, "engine", "%v: start Docker (ops build, push and local-container need it)", err)
			return
		}
		cl.line(true, "engine", "%s", v)
	})

	bounded(func(ctx context.Context) {
		sock := d.getenv("SSH_AUTH_SOCK")
		if sock == "" {
			cl.line(false, "agent", "no ssh agent (SSH_AUTH_SOCK is unset): start one (eval \"$(ssh-agent)\") and ssh-add your key")
			return
		}
		keys, err := c.agentKeys(ctx, sock)
		switch {
		case err != nil:
			cl.line(false, "agent", "the ssh agent at %s does not answer (%v): start one (eval \"$(ssh-agent)\") and ssh-add your key", sock, err)
		case len(keys) == 0:
			cl.line(false, "agent", "the ssh agent at %s holds no keys: ssh-add your key", sock)
		default:
			cl.line(true, "agent", "%s holds %d key(s): %s", sock, len(keys), strings.Join(keys, "; "))
		}
	})

	bounded(func(ctx context.Context) {
		ref, err := d.imageRef()
		if err != nil {
			cl.line(false, "registry", "%v: run ops init --registry REF (or set image.name)", err)
			return
		}
		host, _ := registry.Host(ref)
		a, err := c.registryAuth(ctx, ref)
		switch {
		case err != nil:
			cl.line(false, "registry", "no credentials for %s: %v (registry.auth %s)", host, err, d.cfg.String("registry.auth"))
		case a.Source == "none" || a.Username == "" && a.Password == "":
			cl.line(false, "registry", "no credentials for %s: docker login %s, or registry.auth: ecr for ECR", host, host)
		default:
			cl.line(true, "registry", "credentials for %s from %s", host, a.Source)
		}
	})

	cl.mackerelKey(d)

	gitPath, err := c.lookGit()
	if !cl.line(err == nil, "git", "%s", errOr(err, func() string { return gitPath })) {
		cl.line(false, "log", "the run log needs git: install it")
	} else {
		remote := d.cfg.String("log.remote")
		switch {
		case !d.cfg.Bool("log.enabled"):
			cl.line(true, "log", "run log off (log.enabled is false)")
		case remote == "":
			cl.line(true, "log", "log.remote is empty: runs are recorded in %s only", d.cfg.Path("log.dir"))
		default:
			bounded(func(ctx context.Context) {
				shown := redactURL(remote)
				err := c.lsRemote(ctx, remote)
				if ctx.Err() != nil {
					err = fmt.Errorf("no answer in %s", doctorTimeout)
				}
				if err != nil {
					msg := strings.ReplaceAll(err.Error(), remote, shown)
					cl.line(false, "log", "log remote %s unreachable: %s (check log.remote, and that your key may read it)", shown, msg)
					return
				}
				cl.line(true, "log", "log remote %s reachable", shown)
			})
		}
	}

	if cl.json {
		if err := json.NewEncoder(d.out).Encode(cl.items); err != nil {
			return err
		}
	}
	if cl.failed > 0 {
		return fmt.Errorf("doctor: %d check(s) failed", cl.failed)
	}
	return nil
}

// mackerelKey says where the Mackerel API key comes from: the environment
// (as mackerel-inventory reads it) or apikey in the mackerel-agent.conf
// that container.mounts puts at /etc/mackerel-agent/mackerel-agent.conf.
func (cl *checklist) mackerelKey(d *deps) {
	for _, name := range []string{"MACKEREL_APIKEY", "MACKEREL_API_KEY"} {
		if d.getenv(name) == "" {
			continue
		}
		passed := false
		for _, e := range d.cfg.List("container.env") {
			passed = passed || e == name
		}
		if passed {
			cl.line(true, "mackerel", "%s from the environment, passed into the container (container.env)", name)
		} else {
			cl.line(true, "mackerel", "%s from the environment (add it to container.env to pass it into the container; without it the container reads the operation server's mackerel-agent.conf)", name)
		}
		return
	}
	conf := mackerel.DefaultAgentConf
	for _, m := range d.cfg.List("container.mounts") {
		if src, dst, ok := strings.Cut(m, ":"); ok && strings.TrimSuffix(dst, ":ro") == mackerel.DefaultAgentConf {
			conf = src
		}
	}
	if _, _, err := mackerel.AgentConf(conf); err != nil {
		cl.line(false, "mackerel", "no Mackerel API key: MACKEREL_APIKEY is unset and %s has none here (%v): set MACKEREL_APIKEY, or apikey in that file", conf, unwrapPath(err))
		return
	}
	cl.line(true, "mackerel", "apikey in %s", conf)
}

// unwrapPath drops the path an *os.PathError repeats.
func unwrapPath(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && strings.Contains(err.Error(), "open ") {
		return u.Unwrap()
	}
	return err
}

// redactURL hides a URL's password (log.remote is a secret key).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
