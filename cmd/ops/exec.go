package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/term"

	"github.com/ops-team/ops/helper/ansible"
	"github.com/ops-team/ops/helper/fanout"
	"github.com/ops-team/ops/helper/runlog"
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
	pattern        string
	args           []string // the command, or the script's arguments
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
	fs.DurationVar(&o.connectTimeout, "T", 10*time.Second, "")
	fs.DurationVar(&o.connectTimeout, "timeout", 10*time.Second, "")
	fs.DurationVar(&o.commandTimeout, "command-timeout", 0, "")
	fs.DurationVar(&o.deadline, "deadline", 0, "")
	fs.BoolVar(&o.listHosts, "list-hosts", false, "")
	fs.StringVar(&o.script, "script", "", "")
	fs.BoolVar(&o.fold, "fold", false, "")
	fs.BoolVar(&o.asJSON, "json", false, "")
	fs.BoolVar(&o.forwardAgent, "forward-agent", false, "")
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
   -T, --timeout D        connect timeout (10s); --command-timeout D per host; --deadline D for the whole run
   --script FILE          send FILE over the channel to its interpreter (no copy, no Python on targets)
   --fold                 group hosts whose output and exit are identical; --json: one object per host
   --forward-agent        forward the agent to the targets
   exit: 0 all ok, 2 some failed, 4 some unreachable, 6 both, 130 interrupted`,
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

func (d *deps) loadInventory(ctx context.Context, o execOptions) (*ansible.Inventory, []string, error) {
	sources := o.inventories
	if len(sources) == 0 {
		if env := d.getenv("ANSIBLE_INVENTORY"); env != "" {
			sources = strings.Split(env, ",")
		} else {
			sources = []string{"/etc/ansible/hosts"}
		}
	}
	inv, err := ansible.Load(ctx, sources)
	if err != nil {
		return nil, nil, err
	}
	hosts, err := inv.Select(o.pattern)
	if err != nil {
		return nil, nil, usageError{err}
	}
	return inv, hosts, nil
}

func runListHosts(ctx context.Context, d *deps, o execOptions) error {
	_, hosts, err := d.loadInventory(ctx, o)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		fmt.Fprintln(d.out, h)
	}
	return nil
}

// targets resolves each host's address, port, user and key as Ansible would.
func (d *deps) targets(inv *ansible.Inventory, hosts []string, o execOptions) ([]fanout.Target, error) {
	home, _ := os.UserHomeDir()
	r, err := sshx.LoadResolver(d.cfg.Path("ssh.config"), localUser(), home)
	if err != nil {
		return nil, err
	}
	keys := map[string][]ssh.Signer{}
	loadKey := func(path string) ([]ssh.Signer, error) {
		if s, ok := keys[path]; ok {
			return s, nil
		}
		b, err := os.ReadFile(sshx.ExpandHome(path, home))
		if err != nil {
			return nil, err
		}
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		keys[path] = []ssh.Signer{s}
		return keys[path], nil
	}
	var out []fanout.Target
	for _, name := range hosts {
		h, _ := inv.Host(name)
		addr := varString(h.Vars, "ansible_host", name)
		dest, err := r.Resolve(addr)
		if err != nil {
			return nil, fmt.Errorf("host %s: %v", name, err)
		}
		port := dest.Port
		if p := varString(h.Vars, "ansible_port", ""); p != "" {
			if port, err = strconv.Atoi(p); err != nil {
				return nil, fmt.Errorf("host %s: bad ansible_port %q", name, p)
			}
		}
		user := varString(h.Vars, "ansible_user", "")
		for _, u := range []string{o.user, d.getenv("ANSIBLE_REMOTE_USER"), r.User(addr), localUser()} {
			if user == "" {
				user = u
			}
		}
		t := fanout.Target{Name: name, Addr: net.JoinHostPort(dest.Host, strconv.Itoa(port)), User: user}
		keyFile := varString(h.Vars, "ansible_ssh_private_key_file", o.privateKey)
		if keyFile != "" {
			if t.Signers, err = loadKey(keyFile); err != nil {
				return nil, fmt.Errorf("host %s: private key: %v", name, err)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

func varString(vars map[string]any, key, def string) string {
	if v, ok := vars[key]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return def
}

// agentPool spreads signatures over several agent connections, so that a
// slow (forwarded) agent does not make every handshake wait in one queue;
// each connection lists its keys once, then only signs.
type agentPool struct {
	clients []agent.ExtendedAgent
	signers []func() ([]ssh.Signer, error)
	next    atomic.Uint64
}

func newAgentPool(sock string, n int) (*agentPool, func(), error) {
	p := &agentPool{}
	var conns []net.Conn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	for i := 0; i < n; i++ {
		c, err := net.Dial("unix", sock)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("SSH agent at %s: %v", sock, err)
		}
		conns = append(conns, c)
		ac := agent.NewClient(c)
		p.clients = append(p.clients, ac)
		p.signers = append(p.signers, sync.OnceValues(ac.Signers))
	}
	return p, closeAll, nil
}

func (p *agentPool) auth() []ssh.AuthMethod {
	return []ssh.AuthMethod{ssh.PublicKeysCallback(p.signers[p.next.Add(1)%uint64(len(p.signers))])}
}

func (d *deps) becomePassword() (string, error) {
	fmt.Fprint(d.err, "BECOME password: ")
	if fd, ok := d.stdinTerminal(); ok {
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(d.err)
		return string(b), err
	}
	line, err := bufio.NewReader(d.in).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no become password on stdin")
	}
	return strings.TrimRight(line, "\r\n"), nil
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
		Become: o.become, BecomeUser: o.becomeUser, Collect: o.fold || o.asJSON,
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
	if o.askBecomePass {
		if fo.BecomePassword, err = d.becomePassword(); err != nil {
			return err
		}
	}
	sock := d.getenv("SSH_AUTH_SOCK")
	anyKey := o.privateKey != ""
	for _, t := range targets {
		anyKey = anyKey || len(t.Signers) > 0
	}
	if sock != "" {
		pool, closeAll, err := newAgentPool(sock, min(o.forks, 64))
		if err != nil {
			return err
		}
		defer closeAll()
		fo.Auth = pool.auth
		if o.forwardAgent {
			fo.ForwardAgent, _ = sshx.NewForwardedAgent(pool.clients[0], d.cfg.List("ssh.agent_keys"))
		}
	} else if !anyKey {
		return errors.New("no SSH key: SSH_AUTH_SOCK is unset and no --private-key or ansible_ssh_private_key_file")
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
	if o.deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.deadline)
		defer cancel()
	}
	width := 0
	for _, h := range hosts {
		width = max(width, len(h))
	}
	progress := newProgress(d, len(targets), !o.fold && !o.asJSON)
	switch {
	case o.asJSON:
		enc := json.NewEncoder(d.out)
		fo.OnDone = func(r fanout.Result) {
			progress.clear()
			_ = enc.Encode(jsonResult(r))
			progress.done(r)
		}
	case o.fold:
		fo.OnDone = progress.done
	default:
		fo.OnLine = func(host string, stderr bool, line []byte) {
			mark := "|"
			if stderr {
				mark = "!"
			}
			fmt.Fprintf(d.out, "%-*s %s %s\n", width, host, mark, line)
		}
		fo.OnDone = func(r fanout.Result) {
			if r.Status != fanout.OK {
				fmt.Fprintf(d.err, "%-*s : %s\n", width, r.Host, describeResult(r))
			}
		}
	}
	start := time.Now()
	results := fanout.Run(ctx, targets, fo)
	progress.clear()
	if o.fold {
		printFolded(d, results)
	}
	return summarize(ctx, d, results, width, time.Since(start))
}

func describeResult(r fanout.Result) string {
	switch {
	case r.Status == fanout.OK:
		return "ok"
	case r.Error != "" && r.Exit > 0:
		return fmt.Sprintf("%s exit=%d (%s)", r.Status, r.Exit, r.Error)
	case r.Error != "":
		return fmt.Sprintf("%s (%s)", r.Status, r.Error)
	}
	return fmt.Sprintf("%s exit=%d", r.Status, r.Exit)
}

func jsonResult(r fanout.Result) map[string]any {
	return map[string]any{"host": r.Host, "status": r.Status, "exit": r.Exit, "error": r.Error,
		"stdout": string(r.Stdout), "stderr": string(r.Stderr), "duration_ms": r.Duration.Milliseconds()}
}

func printFolded(d *deps, results []fanout.Result) {
	type fold struct {
		key   string
		r     fanout.Result
		hosts []string
	}
	var folds []*fold
	index := map[string]*fold{}
	for _, r := range results {
		key := fmt.Sprintf("%s\x00%d\x00%s\x00%s\x00%s", r.Status, r.Exit, r.Error, r.Stdout, r.Stderr)
		f, ok := index[key]
		if !ok {
			f = &fold{key: key, r: r}
			index[key] = f
			folds = append(folds, f)
		}
		f.hosts = append(f.hosts, r.Host)
	}
	sort.SliceStable(folds, func(i, j int) bool { return len(folds[i].hosts) > len(folds[j].hosts) })
	for _, f := range folds {
		fmt.Fprintf(d.out, "---------------- %s (%d) %s\n", strings.Join(f.hosts, ","), len(f.hosts), describeResult(f.r))
		d.out.Write(f.r.Stdout)
		d.out.Write(f.r.Stderr)
	}
}

// summarize prints the recap (read back by an outer ops for its run log),
// records the hosts, and gives the exit status.
func summarize(ctx context.Context, d *deps, results []fanout.Result, width int, took time.Duration) error {
	var ok, failed, unreachable int
	fmt.Fprintln(d.err, runlog.ExecRecapHeader)
	var hr []runlog.HostResult
	for _, r := range results {
		switch r.Status {
		case fanout.OK:
			ok++
		case fanout.Failed:
			failed++
		default:
			unreachable++
		}
		line := string(r.Status)
		exit := r.Exit
		if r.Status != fanout.Unreachable {
			line += " exit=" + strconv.Itoa(r.Exit)
		}
		fmt.Fprintf(d.err, "%-*s : %s\n", width, r.Host, line)
		h := runlog.HostResult{Name: r.Host, Result: string(r.Status)}
		if r.Status != fanout.Unreachable {
			h.Exit = &exit
		}
		hr = append(hr, h)
	}
	fmt.Fprintf(d.err, "ops exec: %d hosts in %.2fs: %d ok, %d failed, %d unreachable\n", len(results), took.Seconds(), ok, failed, unreachable)
	if d.header != nil {
		d.header.Hosts = hr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	code := 0
	if failed > 0 {
		code |= exitHostsFailed
	}
	if unreachable > 0 {
		code |= exitHostsUnreachable
	}
	if code != 0 {
		return commandExit{code: code}
	}
	return nil
}

// progress shows done/total on a terminal's stderr.
type progress struct {
	d             *deps
	total, n, bad int
	on            bool
}

func newProgress(d *deps, total int, streaming bool) *progress {
	f, ok := d.err.(*os.File)
	return &progress{d: d, total: total, on: !streaming && ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) done(r fanout.Result) {
	p.n++
	if r.Status != fanout.OK {
		p.bad++
	}
	if p.on {
		fmt.Fprintf(p.d.err, "\r[%d/%d] %d not ok", p.n, p.total, p.bad)
	}
}

func (p *progress) clear() {
	if p.on {
		fmt.Fprint(p.d.err, "\r\033[K")
	}
}
