package sshx

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SSHArgs are OpenSSH command-line arguments as Ansible passes them
// (ansible.cfg ssh_args, ansible_ssh_common_args, ansible_ssh_extra_args,
// and the -o options it adds for ansible_port, ansible_user, …). As in
// ssh(1), the first value given for an option wins; identity files add up.
// Zero values are "not given".
type SSHArgs struct {
	ConfigFile string   // -F
	Jump       []string // -J / ProxyJump, first hop first
	NoJump     bool     // ProxyJump=none: no jump host, whatever the config says
	Identities []string // -i / IdentityFile, in order
	Port       int      // -p / Port
	User       string   // -l / User
	HostName   string   // -o HostName

	// StrictHostKeyChecking is "yes", "no", "accept-new" or "ask"
	// (OpenSSH's synonyms true/false/off normalised).
	StrictHostKeyChecking string
	KnownHostsFiles       []string // UserKnownHostsFile (several: new keys go to the first)

	ForwardAgent   *bool         // -A / -a / ForwardAgent (the caller decides)
	ConnectTimeout time.Duration // ConnectTimeout (the caller decides)

	// Ignored lists what was accepted without effect, as given
	// ("-C", "ControlPersist=60s"): see IgnoredSSHOptions.
	Ignored []string

	jumpSet bool
}

// IgnoredSSHOptions lists the -o options accepted without effect: connection
// sharing, keepalives, logging and auth preferences that ops's own
// mechanisms replace (ops exec keeps one connection per host for the run,
// bounds every wait itself and authenticates by key only), and settings
// that change nothing about where ops connects or what key it accepts.
func IgnoredSSHOptions() []string { return append([]string(nil), ignoredOptions[:]...) }

var ignoredOptions = [...]string{
	"ControlMaster", "ControlPersist", "ControlPath",
	"ServerAliveInterval", "ServerAliveCountMax", "TCPKeepAlive", "ConnectionAttempts",
	"PreferredAuthentications", "IdentitiesOnly", "PasswordAuthentication",
	"KbdInteractiveAuthentication", "ChallengeResponseAuthentication", "GSSAPIAuthentication",
	"GSSAPIDelegateCredentials", "PubkeyAuthentication", "BatchMode", "AddKeysToAgent",
	"LogLevel", "Compression", "ForwardX11", "ForwardX11Trusted", "HashKnownHosts",
	"CheckHostIP", "UpdateHostKeys", "VisualHostKey", "RequestTTY",
}

// ignoredFlags are flags without an argument accepted without effect:
// compression, quiet, verbose, no TTY, no stdin, no X11.
const ignoredFlags = "CqvTnxXYtsNfgk46"

// ParseSSHArgs parses a string of OpenSSH arguments (split into words as a
// POSIX shell does, as Ansible does with shlex). Options that would change
// how ops connects and that it cannot honour (ProxyCommand, HostKeyAlias,
// Ciphers, …), positional words and unknown flags are errors naming them.
func ParseSSHArgs(s string) (SSHArgs, error) {
	var a SSHArgs
	err := a.Parse(s)
	return a, err
}

// Parse adds the arguments in s to a; values a already holds win, as when
// ssh(1) is given the arguments of a before those of s.
func (a *SSHArgs) Parse(s string) error {
	words, err := SplitWords(s)
	if err != nil {
		return err
	}
	return a.ParseWords(words)
}

// ParseWords is Parse on words already split.
func (a *SSHArgs) ParseWords(words []string) error {
	for i := 0; i < len(words); i++ {
		w := words[i]
		if len(w) < 2 || w[0] != '-' || w == "--" {
			return fmt.Errorf("ssh arguments: %q is not an option (ops takes the host from the inventory)", w)
		}
		// Flags may be bundled (-Cq, -Cp22) as getopt allows.
		for j := 1; j < len(w); j++ {
			f := w[j]
			if strings.IndexByte(ignoredFlags, f) >= 0 {
				a.Ignored = append(a.Ignored, "-"+string(f))
				continue
			}
			switch f {
			case 'A', 'a':
				if a.ForwardAgent == nil {
					yes := f == 'A'
					a.ForwardAgent = &yes
				}
				continue
			case 'J', 'F', 'i', 'p', 'l', 'o':
			default:
				return fmt.Errorf("ssh arguments: -%c is not supported by ops", f)
			}
			val := w[j+1:]
			if val == "" {
				if i+1 == len(words) {
					return fmt.Errorf("ssh arguments: -%c needs a value", f)
				}
				i++
				val = words[i]
			}
			var err error
			switch f {
			case 'J':
				if a.jumpSet {
					// ssh(1): "Only a single -J option is permitted" (a
					// ProxyJump option before it counts).
					return errors.New("ssh arguments: only one -J (or ProxyJump before it) is permitted")
				}
				err = a.set("ProxyJump", val)
			case 'F':
				// ssh(1) takes the last -F (checked with ssh -G).
				a.ConfigFile = val
			case 'i':
				a.Identities = append(a.Identities, val)
			case 'p':
				err = a.set("Port", val)
			case 'l':
				err = a.set("User", val)
			case 'o':
				err = a.option(val)
			}
			if err != nil {
				return err
			}
			break
		}
	}
	return nil
}

// option parses one -o: "Key=Value", "Key Value", "Key = Value".
func (a *SSHArgs) option(s string) error {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "= \t")
	if i <= 0 {
		return fmt.Errorf("ssh arguments: -o %q has no value", s)
	}
	key, val := s[:i], strings.TrimLeft(s[i:], " \t")
	if strings.HasPrefix(val, "=") {
		val = strings.TrimLeft(val[1:], " \t")
	}
	return a.set(key, val)
}

// set applies one option, keeping a value already given. The value is
// split into words as ssh_config(5) does ("User=\"deploy\"" is deploy).
func (a *SSHArgs) set(key, raw string) error {
	words, err := SplitWords(raw)
	if err != nil {
		return fmt.Errorf("ssh arguments: %s: %v", key, err)
	}
	one := func() (string, error) {
		if len(words) != 1 {
			return "", fmt.Errorf("ssh arguments: %s needs one value, not %q", key, raw)
		}
		return words[0], nil
	}
	for _, ig := range ignoredOptions {
		if strings.EqualFold(key, ig) {
			a.Ignored = append(a.Ignored, ig+"="+raw)
			return nil
		}
	}
	switch strings.ToLower(key) {
	case "proxyjump":
		v, err := one()
		if err != nil {
			return err
		}
		if a.jumpSet {
			return nil
		}
		a.jumpSet = true
		if strings.EqualFold(v, "none") {
			a.NoJump = true
			return nil
		}
		for _, j := range strings.Split(v, ",") {
			j = strings.TrimSpace(j)
			if _, _, _, err := ParseDest(j); err != nil {
				return fmt.Errorf("ssh arguments: ProxyJump: %v", err)
			}
			a.Jump = append(a.Jump, j)
		}
	case "identityfile":
		v, err := one()
		if err != nil {
			return err
		}
		a.Identities = append(a.Identities, v)
	case "port":
		v, err := one()
		if err != nil {
			return err
		}
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("ssh arguments: bad Port %q", v)
		}
		if a.Port == 0 {
			a.Port = p
		}
	case "user":
		v, err := one()
		if err != nil {
			return err
		}
		if a.User == "" {
			a.User = v
		}
	case "hostname":
		v, err := one()
		if err != nil {
			return err
		}
		if a.HostName == "" {
			a.HostName = v
		}
	case "stricthostkeychecking":
		v, err := one()
		if err != nil {
			return err
		}
		n, err := NormaliseStrict(v)
		if err != nil {
			return fmt.Errorf("ssh arguments: %v", err)
		}
		if a.StrictHostKeyChecking == "" {
			a.StrictHostKeyChecking = n
		}
	case "userknownhostsfile":
		if len(words) == 0 {
			return fmt.Errorf("ssh arguments: %s needs a value", key)
		}
		if a.KnownHostsFiles == nil {
			a.KnownHostsFiles = words
		}
	case "forwardagent":
		v, err := one()
		if err != nil {
			return err
		}
		var yes bool
		switch strings.ToLower(v) {
		case "yes", "true":
			yes = true
		case "no", "false":
		default:
			return fmt.Errorf("ssh arguments: ForwardAgent %q: ops forwards its own agent only (yes or no)", v)
		}
		if a.ForwardAgent == nil {
			a.ForwardAgent = &yes
		}
	case "connecttimeout":
		v, err := one()
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("ssh arguments: bad ConnectTimeout %q", v)
		}
		if a.ConnectTimeout == 0 {
			a.ConnectTimeout = time.Duration(n) * time.Second
		}
	default:
		return fmt.Errorf("ssh arguments: option %s is not supported by ops", key)
	}
	return nil
}

// NormaliseStrict gives an OpenSSH StrictHostKeyChecking value as "yes",
// "no", "accept-new" or "ask".
func NormaliseStrict(v string) (string, error) {
	switch strings.ToLower(v) {
	case "yes", "true":
		return "yes", nil
	case "no", "false", "off":
		return "no", nil
	case "accept-new":
		return "accept-new", nil
	case "ask":
		return "ask", nil
	}
	return "", fmt.Errorf("bad StrictHostKeyChecking %q (yes, no, accept-new or ask)", v)
}

// SplitWords splits s into words as a POSIX shell does (and Python's
// shlex.split, which Ansible uses): blanks separate words, single quotes
// keep everything, double quotes keep all but \" \\ \$ \`, a backslash
// outside quotes keeps the next character.
func SplitWords(s string) ([]string, error) {
	return splitWords(s, false)
}

// splitWords is SplitWords; with comments, an unquoted word starting with
// # ends the line (ssh_config(5)).
func splitWords(s string, comments bool) ([]string, error) {
	var words []string
	var b strings.Builder
	in := false // inside a word
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if in {
				words = append(words, b.String())
				b.Reset()
				in = false
			}
		case c == '#' && comments && !in:
			return words, nil
		case c == '\\':
			in = true
			if i+1 < len(s) {
				i++
				if s[i] != '\n' {
					b.WriteByte(s[i])
				}
			}
		case c == '\'':
			in = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			in = true
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					i++
					if s[i] == '\n' {
						continue
					}
				}
				b.WriteByte(s[i])
			}
			if !closed {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
		default:
			in = true
			b.WriteByte(c)
		}
	}
	if in {
		words = append(words, b.String())
	}
	return words, nil
}

// AnsibleSSH is what Ansible's ssh connection plugin puts on ssh's command
// line, as it orders them: ssh_args, StrictHostKeyChecking=no when host
// key checking is off, Port, IdentityFile, User, then the common and
// extra args. Since the first value of an option wins, ssh_args beat the
// inventory's ansible_user/ansible_port, which beat ssh_common_args.
type AnsibleSSH struct {
	SSHArgs         string // ansible.cfg [ssh_connection] ssh_args, ANSIBLE_SSH_ARGS, ansible_ssh_args
	HostKeyChecking bool   // false: ANSIBLE_HOST_KEY_CHECKING=False / host_key_checking = False
	Port            int    // ansible_port (0: none)
	PrivateKeyFile  string // ansible_ssh_private_key_file / --private-key
	User            string // ansible_user / -u / ANSIBLE_REMOTE_USER
	CommonArgs      string // ansible_ssh_common_args / --ssh-common-args
	ExtraArgs       string // ansible_ssh_extra_args / --ssh-extra-args
}

// Args parses them into one SSHArgs; an error names the part it is in.
func (s AnsibleSSH) Args() (SSHArgs, error) {
	var a SSHArgs
	if err := a.Parse(s.SSHArgs); err != nil {
		return a, fmt.Errorf("ssh_args: %w", err)
	}
	if !s.HostKeyChecking {
		_ = a.set("StrictHostKeyChecking", "no")
	}
	if s.Port != 0 {
		if err := a.set("Port", strconv.Itoa(s.Port)); err != nil {
			return a, fmt.Errorf("ansible_port: %w", err)
		}
	}
	if s.PrivateKeyFile != "" {
		a.Identities = append(a.Identities, s.PrivateKeyFile)
	}
	if s.User != "" && a.User == "" {
		a.User = s.User
	}
	if err := a.Parse(s.CommonArgs); err != nil {
		return a, fmt.Errorf("ssh_common_args: %w", err)
	}
	if err := a.Parse(s.ExtraArgs); err != nil {
		return a, fmt.Errorf("ssh_extra_args: %w", err)
	}
	return a, nil
}
