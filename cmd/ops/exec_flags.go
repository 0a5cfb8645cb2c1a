package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ops-team/ops/helper/ansible"
)

// Ansible's ad-hoc flag grammar, declared once (POSIX short flags that
// bundle, -bK, -f50, -uroot; long flags; anywhere before "--"): the flags
// feed the parser and the help text.

// fanFlags are the flags every fan-out command shares (ops exec now, ops
// play later): inventory, selection, connection, privilege, bounds.
type fanFlags struct {
	inventories    []string
	limit          string
	extraVars      []string
	forks          int
	handshakes     int
	user           string
	privateKey     string
	become         bool
	askBecomePass  bool
	becomeUser     string
	becomeMethod   string
	connection     string
	sshCommonArgs  string
	sshExtraArgs   string
	connectTimeout time.Duration
	commandTimeout time.Duration
	deadline       time.Duration
	listHosts      bool
	fold, asJSON   bool
	forwardAgent   bool
	raw            bool
	verbose        int
	// given names the flags given on the command line (ansible.cfg's
	// settings apply to the others).
	given map[string]bool
}

// record notes which flags were given.
func (f *fanFlags) record(fs *pflag.FlagSet) {
	f.given = map[string]bool{}
	fs.Visit(func(fl *pflag.Flag) { f.given[fl.Name] = true })
}

// applyConfig takes ansible.cfg's settings (and their ANSIBLE_* variables)
// for what the command line did not give.
func (f *fanFlags) applyConfig(c *ansible.ConfigFile) {
	if !f.given["timeout"] && c.Timeout > 0 {
		f.connectTimeout = time.Duration(c.Timeout) * time.Second
	}
	if !f.given["become-user"] && c.BecomeUser != "" {
		f.becomeUser = c.BecomeUser
	}
	if !f.given["become"] && !f.given["ask-become-pass"] && c.Become {
		f.become = true
	}
	if !f.given["become-method"] && c.BecomeMethod != "" {
		f.becomeMethod = c.BecomeMethod
	}
	if !f.given["private-key"] && !f.given["key-file"] && c.PrivateKeyFile != "" {
		f.privateKey = c.PrivateKeyFile
	}
	if !f.given["user"] && c.RemoteUser != "" {
		f.user = c.RemoteUser
	}
	if !f.given["ssh-common-args"] {
		f.sshCommonArgs = c.SSHCommonArgs
	}
	if !f.given["ssh-extra-args"] {
		f.sshExtraArgs = c.SSHExtraArgs
	}
}

func (f *fanFlags) declare(fs *pflag.FlagSet) {
	f.connectTimeout = 10 * time.Second
	fs.StringArrayVarP(&f.inventories, "inventory", "i", nil, "`INV`: an inventory directory, executable (dynamic), an INI or YAML file, or \"h1,h2,\" (repeatable; default $ANSIBLE_INVENTORY, then ansible.cfg)")
	fs.StringVarP(&f.limit, "limit", "l", "", "further limit the hosts to a `PATTERN` (@FILE: the hosts listed in FILE)")
	fs.StringArrayVarP(&f.extraVars, "extra-vars", "e", nil, "`VARS` above all others: k=v k2=v2, YAML/JSON, or @FILE (repeatable)")
	fs.IntVarP(&f.forks, "forks", "f", 100, "`N` hosts at once")
	fs.IntVar(&f.handshakes, "handshakes", 0, "`N` connections in their handshake at once (0: adapts to the handshake time, up to -f)")
	fs.StringVarP(&f.user, "user", "u", "", "login `USER` (after ansible_user; before ANSIBLE_REMOTE_USER, ~/.ssh/config, the local user)")
	fs.StringVar(&f.privateKey, "private-key", "", "key `FILE` to try before the agent's")
	fs.StringVar(&f.privateKey, "key-file", "", "the same as --private-key `FILE`")
	fs.BoolVarP(&f.become, "become", "b", false, "run through sudo (sudo -n without -K: a host that wants a password fails)")
	fs.BoolVarP(&f.askBecomePass, "ask-become-pass", "K", false, "ask for the become password once (implies -b)")
	fs.StringVar(&f.becomeUser, "become-user", "root", "become this `USER`")
	fs.StringVar(&f.becomeMethod, "become-method", "sudo", "`METHOD`: sudo only")
	fs.StringVarP(&f.connection, "connection", "c", "ssh", "`TYPE`: ssh (or smart) only")
	fs.StringVar(&f.sshCommonArgs, "ssh-common-args", "", "OpenSSH `ARGS` for every connection (-J, -F, -o Option=…)")
	fs.StringVar(&f.sshExtraArgs, "ssh-extra-args", "", "OpenSSH `ARGS` added after the common ones")
	fs.VarP((*seconds)(&f.connectTimeout), "timeout", "T", "connect timeout in `SECONDS` (or a duration: 1m30s): each wait before the command starts")
	fs.Var((*seconds)(&f.commandTimeout), "command-timeout", "per host, once its command started (`SECONDS`; 0: none)")
	fs.Var((*seconds)(&f.deadline), "deadline", "the whole run (`SECONDS`; 0: none)")
	fs.BoolVar(&f.listHosts, "list-hosts", false, "print the hosts the pattern selects and do nothing")
	fs.BoolVar(&f.fold, "fold", false, "group hosts whose output and exit are identical")
	fs.BoolVar(&f.asJSON, "json", false, "one JSON object per host on stdout")
	fs.BoolVar(&f.raw, "raw", false, "print targets' control characters as they are (escaped by default)")
	fs.BoolVar(&f.forwardAgent, "forward-agent", false, "forward the agent to the targets (read-only; ssh.agent_keys restricts it)")
	fs.CountVarP(&f.verbose, "verbose", "v", "say how each host is reached (user, address, key, jump host) on stderr")
}

// flagHelp lists the visible flags of fs, one a line, aligned: the one
// description that --help, and later completion and man pages, show.
func flagHelp(fs *pflag.FlagSet) string {
	type row struct{ names, usage string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		varname, usage := pflag.UnquoteUsage(f)
		names := "    --" + f.Name
		if f.Shorthand != "" {
			names = "-" + f.Shorthand + ", --" + f.Name
		}
		switch f.Value.Type() {
		case "bool", "count":
		default:
			names += " " + varname
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "[]" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		rows = append(rows, row{names, usage})
		width = max(width, len(names))
	})
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, r.names, r.usage)
	}
	return b.String()
}

// refusedFlags are Ansible's flags that ops does not implement: given,
// each is one clear line and exit 2, never silently ignored.
var refusedFlags = []struct {
	long, short string
	value       bool
	why         string
}{
	{"ask-pass", "k", false, "ops connects with keys only (agent or --private-key)"},
	{"connection-password-file", "", true, "ops connects with keys only (agent or --private-key)"},
	{"become-password-file", "", true, "use -K (the password is asked once and sent through the channel)"},
	{"ask-vault-password", "J", false, "vault is not implemented"},
	{"ask-vault-pass", "", false, "vault is not implemented"},
	{"vault-id", "", true, "vault is not implemented"},
	{"vault-password-file", "", true, "vault is not implemented"},
	{"background", "B", true, "async tasks are not implemented"},
	{"poll", "P", true, "async tasks are not implemented"},
	{"check", "C", false, "check mode is not implemented (raw never runs in check mode)"},
	{"diff", "D", false, "diff mode is not implemented"},
	{"tree", "t", true, "--tree is not implemented (see --json)"},
	{"one-line", "o", false, "--one-line is not implemented (see --fold and --json)"},
	{"module-path", "M", true, "ops runs raw commands only"},
	{"playbook-dir", "", true, "--playbook-dir is not implemented"},
	{"scp-extra-args", "", true, "ops copies nothing"},
	{"sftp-extra-args", "", true, "ops copies nothing"},
	{"task-timeout", "", true, "use --command-timeout"},
}

// declareRefused adds refusedFlags as hidden flags.
func declareRefused(fs *pflag.FlagSet) {
	for _, r := range refusedFlags {
		var fl *pflag.Flag
		short := r.short
		if fs.Lookup(r.long) != nil {
			continue // the command has a flag of that name
		}
		if short != "" && fs.ShorthandLookup(short) != nil {
			short = "" // -t is --tags for ops play, --tree for Ansible's ad-hoc
		}
		if r.value {
			fs.StringP(r.long, short, "", r.why)
		} else {
			fs.BoolP(r.long, short, false, r.why)
		}
		fl = fs.Lookup(r.long)
		fl.Hidden = true
	}
}

// checkRefused names the first refused flag given.
func checkRefused(cmd string, fs *pflag.FlagSet) error {
	for _, r := range refusedFlags {
		// A command that declares the flag itself (ops play's -C) takes it.
		if fl := fs.Lookup(r.long); fl != nil && fl.Hidden && fs.Changed(r.long) {
			name := "--" + r.long
			if r.short != "" {
				name = "-" + r.short + "/" + name
			}
			with := "ansible"
			if cmd == "play" {
				with = "ansible-playbook"
			}
			return usagef("%s: %s is not implemented: %s (run it with ops remote-container %s)", cmd, name, r.why, with)
		}
	}
	return nil
}

// parse reads args with fs (a set that declared f's flags): a flag
// mistake, a refused Ansible flag or flags that do not go together are
// usage errors.
func (f *fanFlags) parse(cmd string, fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usagef("%s: %v", cmd, err)
	}
	if err := checkRefused(cmd, fs); err != nil {
		return err
	}
	f.record(fs)
	return f.check(cmd)
}

// helpAsked: -h or --help before "--" (the commands parse their own flags).
func helpAsked(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "-h" || a == "--help" {
			return true
		}
	}
	return false
}

// check validates what the fan-out flags say together.
func (f *fanFlags) check(cmd string) error {
	if f.askBecomePass {
		f.become = true
	}
	switch {
	case f.forks < 1:
		return usagef("%s: --forks must be at least 1", cmd)
	case f.handshakes < 0:
		return usagef("%s: --handshakes must be 0 (adaptive) or more", cmd)
	case f.fold && f.asJSON:
		return usagef("%s: --fold and --json do not go together", cmd)
	case f.becomeMethod != "sudo":
		return usagef("%s: --become-method %s: only sudo is implemented", cmd, f.becomeMethod)
	case f.connection != "ssh" && f.connection != "smart":
		return usagef("%s: --connection %s: only ssh is implemented", cmd, f.connection)
	}
	return nil
}

// limitPattern is the --limit pattern; @FILE lists hosts one per line (as
// Ansible's retry files).
func (f *fanFlags) limitPattern() (string, error) {
	file, ok := strings.CutPrefix(f.limit, "@")
	if !ok {
		return f.limit, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", usagef("--limit @%s: %v", file, err)
	}
	var hosts []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			hosts = append(hosts, l)
		}
	}
	if len(hosts) == 0 {
		return "", usagef("--limit @%s: the file lists no host", file)
	}
	return strings.Join(hosts, ","), nil
}

// seconds is a duration given as Ansible gives it, in seconds ("10"), or
// as a Go duration ("1m30s").
type seconds time.Duration

func (s *seconds) String() string { return time.Duration(*s).String() }
func (s *seconds) Type() string   { return "seconds" }
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
