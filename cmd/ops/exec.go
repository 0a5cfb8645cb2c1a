package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/crypto/ssh"

	"github.com/ops-team/ops/helper/fanout"
	"github.com/ops-team/ops/helper/sshx"
)

// Exit codes of ops exec (documented in README): bits for failed and
// unreachable hosts.
const (
	exitHostsFailed      = 2
	exitHostsUnreachable = 4
)

type execOptions struct {
	inventories    []string
	forks          int
	handshakes     int
	user           string
	privateKey     string
	become         bool
	askBecomePass  bool
	becomeUser     string
	connectTimeout time.Duration
	commandTimeout time.Duration
	deadline       time.Duration
	listHosts      bool
	script         string
	fold, asJSON   bool
	forwardAgent   bool
	raw            bool
	pattern        string
	args           []string // the command, or the script's arguments
}

// seconds is a duration given as Ansible gives it, in seconds ("10"), or
// as a Go duration ("1m30s").
type seconds time.Duration

func (s *seconds) String() string { return time.Duration(*s).String() }
func (s *seconds) Set(v string) error {
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 {
		*s = seconds(n * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("%q is neither seconds nor a duration such as 1m30s", v)
	}
	*s = seconds(d)
	return nil
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// parseExecArgs reads Ansible-style flags anywhere before "--".
func parseExecArgs(args []string) (execOptions, error) {
	var o execOptions
	fs := flag.NewFlagSet("exec", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var inv stringList
	fs.Var(&inv, "i", "")
	fs.Var(&inv, "inventory", "")
	fs.IntVar(&o.forks, "f", 100, "")
	fs.IntVar(&o.forks, "forks", 100, "")
	fs.IntVar(&o.handshakes, "handshakes", 0, "")
	fs.StringVar(&o.user, "u", "", "")
	fs.StringVar(&o.user, "user", "", "")
	fs.StringVar(&o.privateKey, "private-key", "", "")
	fs.BoolVar(&o.become, "b", false, "")
	fs.BoolVar(&o.become, "become", false, "")
	fs.BoolVar(&o.askBecomePass, "K", false, "")
	fs.BoolVar(&o.askBecomePass, "ask-become-pass", false, "")
	fs.StringVar(&o.becomeUser, "become-user", "root", "")
	o.connectTimeout = 10 * time.Second
	fs.Var((*seconds)(&o.connectTimeout), "T", "")
	fs.Var((*seconds)(&o.connectTimeout), "timeout", "")
	fs.Var((*seconds)(&o.commandTimeout), "command-timeout", "")
	fs.Var((*seconds)(&o.deadline), "deadline", "")
	fs.BoolVar(&o.listHosts, "list-hosts", false, "")
	fs.StringVar(&o.script, "script", "", "")
	fs.BoolVar(&o.fold, "fold", false, "")
	fs.BoolVar(&o.asJSON, "json", false, "")
	fs.BoolVar(&o.forwardAgent, "forward-agent", false, "")
	fs.BoolVar(&o.raw, "raw", false, "")
	var positional, rest []string
	for i := 0; i < len(args); i++ {
		if args[i] == "--" {
			rest = args[i+1:]
			break
		}
		if err := fs.Parse(args[i:]); err != nil {
			return o, usagef("exec: %v", err)
		}
		left := fs.Args()
		if len(left) == 0 {
			break
		}
		if left[0] == "--" {
			rest = left[1:]
			break
		}
		positional = append(positional, left[0])
		i = len(args) - len(left)
	}
	o.inventories = inv
	if o.script != "" {
		// ops exec PATTERN --script FILE ARGS…: words after the pattern are the script's.
		if len(positional) == 0 {
			return o, usagef("exec needs a host pattern")
		}
		o.pattern, o.args = positional[0], append(positional[1:], rest...)
	} else {
		switch {
		case len(positional) == 0:
			return o, usagef("exec needs a host pattern: ops exec [flags] PATTERN -- CMD")
		case len(positional) > 1:
			return o, usagef("exec: unexpected %q before --: ops exec [flags] PATTERN -- CMD", positional[1])
		}
		o.pattern, o.args = positional[0], rest
		if len(o.args) == 0 && !o.listHosts {
			return o, usagef("exec needs a command after --, or --script FILE")
		}
	}
	if o.askBecomePass {
		o.become = true
	}
	if o.forks < 1 {
		return o, usagef("exec: --forks must be at least 1")
	}
	if o.handshakes < 0 {
		return o, usagef("exec: --handshakes must be 0 (adaptive) or more")
	}
	if o.fold && o.asJSON {
		return o, usagef("exec: --fold and --json do not go together")
	}
	return o, nil
}

func execCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:  "exec",
		Usage: "run a command on many hosts at once (Ansible's inventories and host patterns, password sudo)",
		UsageText: `ops exec [-i INV]… [-f N] [-u USER] [-b [-K] [--become-user U]] PATTERN -- CMD…
   ops exec [flags] PATTERN --script FILE [ARGS…]
   ops exec -i INV --list-hosts PATTERN

   -i, --inventory INV    inventory: executable (dynamic), INI or YAML file, or "h1,h2," (repeatable; default $ANSIBLE_INVENTORY)
   -f, --forks N          hosts at once (100)
   --handshakes N         connections in their handshake at once (0: adapts to the handshake time, up to -f)
   -u, --user USER        login user (after ansible_user; before ANSIBLE_REMOTE_USER, ~/.ssh/config, the local user)
   --private-key FILE     key to try before the agent's
   -b, --become           run through sudo; -K, --ask-become-pass asks for its password once
   --become-user USER     (root)
   -T, --timeout S        connect timeout (10; seconds, or a duration: 1m30s): each wait before the command starts
   --command-timeout S    per host, after its command started; --deadline S for the whole run
   --script FILE          send FILE over the channel to its interpreter (no copy, no Python on targets)
   --fold                 group hosts whose output and exit are identical; --json: one object per host
   --raw                  print targets' control characters as they are (escaped by default)
   --forward-agent        forward the agent to the targets (read-only; ssh.agent_keys restricts it)
   -b without -K runs sudo -n: a host that wants a password fails with sudo's message.
   Output: a line over 64 KiB is cut and marked; --fold/--json keep at most 1 MiB a host.
   exit: 0 all ok; 2 some failed, timed out or not started; 4 some unreachable; 6 both;
         130 interrupted (143 SIGTERM, 129 SIGHUP); 2 for a mistake before anything runs`,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			for _, a := range args {
				if a == "-h" || a == "--help" {
					return cli.ShowSubcommandHelp(c)
				}
				if a == "--" {
					break
				}
			}
			o, err := parseExecArgs(args)
			if err != nil {
				return err
			}
			if o.listHosts {
				return runListHosts(c.Context, d, o)
			}
			return d.recorded(c.Context, d.argv, func() error { return runExec(c.Context, d, o) })
		},
	}
}

func scriptCommand(script []byte, args []string) string {
	interp := "/bin/sh"
	if first, _, _ := strings.Cut(string(script), "\n"); strings.HasPrefix(first, "#!") {
		interp = strings.TrimSpace(first[2:])
	}
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = sshx.Quote(a)
	}
	base := filepath.Base(strings.Fields(interp + " x")[0])
	if base == "sh" || base == "bash" || base == "dash" {
		return strings.TrimSpace(interp + " -s -- " + strings.Join(q, " "))
	}
	return strings.TrimSpace(interp + " /dev/stdin " + strings.Join(q, " "))
}

func runExec(ctx context.Context, d *deps, o execOptions) error {
	inv, hosts, err := d.loadInventory(ctx, o)
	if err != nil {
		return err
	}
	if len(hosts) == 0 {
		return fmt.Errorf("no hosts matched %q", o.pattern)
	}
	targets, err := d.targets(inv, hosts, o)
	if err != nil {
		return err
	}
	fo := fanout.Options{
		Forks: o.forks, Handshakes: o.handshakes, ConnectTimeout: o.connectTimeout, CommandTimeout: o.commandTimeout,
		Deadline: o.deadline, Become: o.become, BecomeUser: o.becomeUser, Collect: o.fold || o.asJSON,
	}
	if o.script != "" {
		body, err := os.ReadFile(o.script)
		if err != nil {
			return usagef("--script: %v", err)
		}
		fo.Stdin, fo.Command = body, scriptCommand(body, o.args)
	} else {
		fo.Command = sshx.CommandLine(o.args)
	}
	sock := d.getenv("SSH_AUTH_SOCK")
	anyKey := o.privateKey != ""
	for _, t := range targets {
		anyKey = anyKey || len(t.Signers) > 0
	}
	if sock != "" {
		pool, err := sshx.DialAgentPool(sock, min(o.forks, 64), o.connectTimeout)
		if err != nil {
			return err
		}
		defer pool.Close()
		fo.Auth = pool.Auth
		if o.forwardAgent {
			fwd, err := sshx.NewForwardedAgent(pool.Agent(), d.cfg.List("ssh.agent_keys"))
			if err != nil {
				return usagef("--forward-agent: %v (ssh.agent_keys)", err)
			}
			fo.ForwardAgent = fwd
		}
	} else if !anyKey {
		return errors.New("no SSH key: SSH_AUTH_SOCK is unset and no --private-key or ansible_ssh_private_key_file")
	} else if o.forwardAgent {
		return usagef("--forward-agent: SSH_AUTH_SOCK is unset: there is no agent to forward")
	}
	if strings.EqualFold(d.getenv("ANSIBLE_HOST_KEY_CHECKING"), "false") {
		fo.HostKey = ssh.InsecureIgnoreHostKey()
	} else {
		hk := &sshx.HostKeys{Path: d.cfg.Path("ssh.known_hosts"), AcceptNew: true}
		if err := hk.Check(); err != nil {
			return err
		}
		fo.HostKey = hk.Callback()
	}
	if o.askBecomePass {
		pw, err := d.becomePassword(ctx)
		if err != nil {
			return err
		}
		fo.BecomePassword = &pw
	}
	p := newExecPrinter(d, o, hosts)
	p.hook(&fo)
	start := time.Now()
	results := fanout.Run(ctx, targets, fo)
	p.progress.clear()
	if o.fold {
		p.fold(results)
	}
	hr, counts := p.recap(results, time.Since(start))
	if d.header != nil {
		d.header.Hosts = hr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if code := execExit(counts); code != 0 {
		return commandExit{code: code}
	}
	return nil
}
