package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/user"
	"strings"
	"time"

	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/term"

	"github.com/ops-team/ops/helper/sshx"
)

// sshOptions are the connection flags shared by every command that
// reaches the operation server.
type sshOptions struct {
	acceptNew bool
	agentKeys []string // restriction of the forwarded agent
	noAgent   bool     // forward no agent at all
}

func localUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// stdinTerminal returns the fd of stdin when it is a terminal.
func (d *deps) stdinTerminal() (int, bool) {
	if d.inFile == nil || !term.IsTerminal(int(d.inFile.Fd())) {
		return -1, false
	}
	return int(d.inFile.Fd()), true
}

// prompter asks on stderr and reads a line from stdin, only at a terminal.
func (d *deps) prompter() sshx.Prompter {
	return func(q string) (bool, bool) {
		if _, ok := d.stdinTerminal(); !ok {
			return false, false
		}
		fmt.Fprint(d.err, q)
		line, err := bufio.NewReader(d.in).ReadString('\n')
		if err != nil {
			return false, false
		}
		return strings.EqualFold(strings.TrimSpace(line), "yes"), true
	}
}

// dialServer connects to the operation server named by server.host.
func (d *deps) dialServer(ctx context.Context, o sshOptions) (*sshx.Client, error) {
	dest := d.serverHost()
	if dest == "" {
		return nil, usagef("no operation server: set server.host in ops.yaml, OPS_SERVER_HOST or --server")
	}
	if d.header != nil {
		d.header.Server = dest
	}
	return d.dial(ctx, dest, o)
}

// dial connects to any destination with the configured SSH settings.
func (d *deps) dial(ctx context.Context, dest string, o sshOptions) (*sshx.Client, error) {
	home, _ := os.UserHomeDir()
	r, err := sshx.LoadResolver(d.cfg.Path("ssh.config"), localUser(), home)
	if err != nil {
		return nil, err
	}
	dialer := &sshx.Dialer{
		Resolver:  r,
		HostKeys:  &sshx.HostKeys{Path: d.cfg.Path("ssh.known_hosts"), AcceptNew: o.acceptNew, Prompt: d.prompter(), Log: d.err},
		AgentSock: d.getenv("SSH_AUTH_SOCK"),
		KeepAlive: 3 * time.Second,
		Log:       d.err,
	}
	return dialer.Dial(ctx, dest)
}

// forwardedAgent wraps the local agent for the remote side, or nil.
func (d *deps) forwardedAgent(c *sshx.Client, o sshOptions) (*sshx.ForwardedAgent, error) {
	if o.noAgent || c.Agent == nil {
		return nil, nil
	}
	keys := o.agentKeys
	if len(keys) == 0 {
		keys = d.cfg.List("ssh.agent_keys")
	}
	return sshx.NewForwardedAgent(c.Agent, keys)
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func agentClient(conn net.Conn) agent.ExtendedAgent { return agent.NewClient(conn) }
