package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/urfave/cli/v2"

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
	fanFlags
	script  string
	module  string // -m: raw only
	modArgs string // -a: the command line, as Ansible's raw takes it
	pattern string
	args    []string // the command, or the script's arguments
}

// fanoutAuth sets the run's credentials: the agent (a pool of
// connections, bounded calls), with --forward-agent the agent the targets
// see (restricted by ssh.agent_keys: matching no key is exit 2), and with
// -K the become password, asked once (after every refusal) and masked in
// the run log. Without an agent, some host must have a key of its own.
func (d *deps) fanoutAuth(ctx context.Context, fo *fanout.Options, targets []fanout.Target, o fanFlags) (func(), error) {
	closeAgent, err := d.fanoutAgent(fo, targets, o)
	if err != nil || !o.askBecomePass {
		return closeAgent, err
	}
	pw, err := d.becomePassword(ctx)
	if err != nil {
		closeAgent()
		return nil, err
	}
	d.secret(pw)
	fo.BecomePassword = &pw
	return closeAgent, nil
}

// fanoutAgent sets the agent side of fanoutAuth.
func (d *deps) fanoutAgent(fo *fanout.Options, targets []fanout.Target, o fanFlags) (func(), error) {
	sock := d.getenv("SSH_AUTH_SOCK")
	anyKey := false
	for _, t := range targets {
		anyKey = anyKey || len(t.Signers) > 0
	}
	if sock == "" {
		switch {
		case o.forwardAgent:
			return nil, usagef("--forward-agent: SSH_AUTH_SOCK is unset: there is no agent to forward")
		case !anyKey:
			return nil, errors.New("no SSH key: SSH_AUTH_SOCK is unset and no --private-key or ansible_ssh_private_key_file")
		}
		return func() {}, nil
	}
	pool, err := sshx.DialAgentPool(sock, min(o.forks, 64), o.connectTimeout)
	if err != nil {
		return nil, err
	}
	fo.Auth = pool.Auth
	if o.forwardAgent {
		conn, err := pool.Forwarding()
		if err != nil {
			pool.Close()
			return nil, err
		}
		fwd, err := sshx.NewForwardedAgent(conn, d.cfg.List("ssh.agent_keys"))
		if err != nil {
			pool.Close()
			return nil, usagef("--forward-agent: %v (ssh.agent_keys)", err)
		}
		fo.ForwardAgent = fwd
	}
	return pool.Close, nil
}

// execFlagSet declares ops exec's flags on o.
func execFlagSet(o *execOptions) *pflag.FlagSet {
	fs := pflag.NewFlagSet("exec", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	o.declare(fs)
	fs.StringVar(&o.script, "script", "", "send `FILE` over the channel to its interpreter (no copy, no Python on targets); words after the pattern are its arguments")
	fs.StringVarP(&o.module, "module-name", "m", "raw", "`MODULE`: raw only (the command runs as Ansible's raw runs it)")
	fs.StringVarP(&o.modArgs, "args", "a", "", "the command line `CMD` (as -m raw -a CMD); or give the command after --")
	declareRefused(fs)
	return fs
}

// parseExecArgs reads Ansible's ad-hoc flags anywhere before "--".
func parseExecArgs(args []string) (execOptions, error) {
	var o execOptions
	fs := execFlagSet(&o)
	if err := o.parse("exec", fs, args); err != nil {
		return o, err
	}
	positional, rest := fs.Args(), []string(nil)
	if n := fs.ArgsLenAtDash(); n >= 0 {
		positional, rest = fs.Args()[:n], fs.Args()[n:]
	}
	if o.module != "raw" {
		return o, usagef("exec: -m %s is not implemented: ops exec runs raw commands (-m raw -a CMD, or -- CMD); run other modules with ops remote-container ansible", o.module)
	}
	if o.modArgs != "" {
		if o.script != "" || len(rest) > 0 {
			return o, usagef("exec: -a and a command after -- (or --script) do not go together")
		}
		rest = []string{o.modArgs}
	}
	if o.script != "" {
		// ops exec PATTERN --script FILE ARGS…: words after the pattern are the script's.
		if len(positional) == 0 {
			return o, usagef("exec needs a host pattern")
		}
		o.pattern, o.args = positional[0], append(positional[1:], rest...)
		return o, nil
	}
	switch {
	case len(positional) == 0:
		return o, usagef("exec needs a host pattern: ops exec [flags] PATTERN -- CMD")
	case len(positional) > 1:
		return o, usagef("exec: unexpected %q before --: ops exec [flags] PATTERN -- CMD", positional[1])
	}
	o.pattern, o.args = positional[0], rest
	if len(o.args) == 0 && !o.listHosts {
		return o, usagef("exec needs a command after --, -a CMD, or --script FILE")
	}
	return o, nil
}

func execCommand(d *deps) *cli.Command {
	var o execOptions
	return &cli.Command{
		Name:  "exec",
		Usage: "run a command on many hosts at once (Ansible's inventories, host patterns and ad-hoc flags, password sudo)",
		UsageText: `ops exec [flags] PATTERN -- CMD…
   ops exec [flags] PATTERN -m raw -a 'CMD'
   ops exec [flags] PATTERN --script FILE [ARGS…]
   ops exec [flags] --list-hosts PATTERN

Examples:
   ops exec -i inventory/ 'web:!status_maintenance' -- uptime
   ops exec -bK -f50 -l @retry.txt all -- systemctl restart nginx
   ops exec --json -T 5 --command-timeout 60 db --script check.sh --verbose

Flags (short ones bundle as Ansible's: -bK, -f50, -uroot):
` + flagHelp(execFlagSet(&o)) + `
Output: a line over 64 KiB is cut and marked; --fold/--json keep at most 1 MiB a host.
Exit: 0 all ok; 2 some failed, timed out or not started; 4 some unreachable; 6 both;
      130 interrupted (143 SIGTERM, 129 SIGHUP); 2 for a mistake before anything runs.`,
		SkipFlagParsing: true,
		HideHelpCommand: true,
		Action: func(c *cli.Context) error {
			if helpAsked(c.Args().Slice()) {
				return cli.ShowSubcommandHelp(c)
			}
			o, err := parseExecArgs(c.Args().Slice())
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
	acfg, err := d.ansibleConfig()
	if err != nil {
		return err
	}
	o.applyConfig(acfg)
	if err := o.check("exec"); err != nil {
		return err
	}
	inv, hosts, err := d.loadInventory(ctx, o, acfg)
	if err != nil {
		return err
	}
	if len(hosts) == 0 {
		return fmt.Errorf("no hosts matched %q", o.pattern)
	}
	targets, err := d.targets(inv, hosts, o, acfg)
	if err != nil {
		return err
	}
	fo := fanout.Options{
		Forks: o.forks, Handshakes: o.handshakes, ConnectTimeout: o.connectTimeout, CommandTimeout: o.commandTimeout,
		Deadline: o.deadline, Become: o.become, BecomeUser: o.becomeUser, Collect: o.fold || o.asJSON,
		ForgetOutput: o.asJSON, // printed as each host ends
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
	closeAgent, err := d.fanoutAuth(ctx, &fo, targets, o.fanFlags)
	if err != nil {
		return err
	}
	defer closeAgent()
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
