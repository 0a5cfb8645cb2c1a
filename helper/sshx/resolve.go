// Package sshx is ops's SSH client: destinations resolved through the
// OpenSSH client config, host keys checked against known_hosts, auth from
// the agent then identity files, ProxyJump, sessions with or without a PTY,
// and an agent forwarded with restrictions and a signature count.
package sshx

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// Dest is a resolved destination.
type Dest struct {
	Alias         string // what the user typed (host part)
	Host          string // HostName
	Port          int
	User          string
	IdentityFiles []string // from the config, expanded; only those that exist are used
	ProxyJump     []string // jump destinations, each resolved again (see Jumps)

	// StrictHostKeyChecking: "yes", "no", "accept-new", "ask", or "" when
	// neither the arguments nor the config say.
	StrictHostKeyChecking string
	KnownHostsFiles       []string // UserKnownHostsFile, expanded; nil: the caller's default
	ProxyCommand          string   // set (and ProxyJump empty) when the config names one: ops cannot run it
}

// Addr is host:port.
func (d Dest) Addr() string { return net.JoinHostPort(d.Host, strconv.Itoa(d.Port)) }

func (d Dest) String() string { return d.User + "@" + d.Addr() }

// ParseDest splits [user@]host[:port], [user@][v6]:port or ssh://user@host:port.
func ParseDest(s string) (user, host string, port int, err error) {
	if s == "" {
		return "", "", 0, errors.New("empty SSH destination")
	}
	if strings.HasPrefix(s, "ssh://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", "", 0, fmt.Errorf("SSH destination %q: %v", s, err)
		}
		if u.Path != "" && u.Path != "/" {
			return "", "", 0, fmt.Errorf("SSH destination %q has a path", s)
		}
		if p := u.Port(); p != "" {
			if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
				return "", "", 0, fmt.Errorf("SSH destination %q: bad port", s)
			}
		}
		return u.User.Username(), u.Hostname(), port, nil
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		user, s = s[:i], s[i+1:]
		if user == "" {
			return "", "", 0, fmt.Errorf("SSH destination has an empty user")
		}
	}
	host = s
	if h, p, err := net.SplitHostPort(s); err == nil {
		host = h
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return "", "", 0, fmt.Errorf("SSH destination %q: bad port %q", s, p)
		}
	}
	if host == "" || strings.ContainsAny(host, " /\t") {
		return "", "", 0, fmt.Errorf("SSH destination %q: bad host", s)
	}
	return user, host, port, nil
}

// Resolver resolves destinations through an OpenSSH client config.
type Resolver struct {
	Config    *ssh_config.Config // nil: no config file
	LocalUser string
	Home      string

	// included maps each Include directive (rewritten to includeKey when
	// the file was read) to the files it names, parsed when it was read.
	included map[*ssh_config.KV][]*ssh_config.Config
}

// includeKey stands for an Include directive that LoadResolver follows
// itself: ssh_config follows Include relative to the passwd entry's home
// (not Home), splits its argument on single spaces (a double space names
// ~/.ssh itself) and takes no quotes.
const includeKey = "OpsInclude"

// maxIncludeDepth is OpenSSH's READCONF_MAX_DEPTH.
const maxIncludeDepth = 16

// LoadResolver reads the config at path; a missing file is no config.
// Include directives are followed as ssh(1) does for a user config: each
// argument (quoted or not) a glob, ~ the home, relative to home/.ssh, the
// files matched in lexical order; inside a Host or Match block they apply
// only when it matches, and a Host line in an included file ends at the
// end of that file.
func LoadResolver(path, localUser, home string) (*Resolver, error) {
	r := &Resolver{LocalUser: localUser, Home: home}
	if path == "" {
		return r, nil
	}
	cfg, err := r.loadFile(path, 0)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	r.Config = cfg
	return r, nil
}

var includeLine = regexp.MustCompile(`(?i)^([ \t]*)include(?:[ \t]*=[ \t]*|[ \t]+)(.*)$`)

// loadFile parses one config file, following its Include directives.
func (r *Resolver) loadFile(path string, depth int) (*ssh_config.Config, error) {
	if depth > maxIncludeDepth {
		return nil, fmt.Errorf("%s: Include nested too deeply (a loop?)", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	var includes [][]*ssh_config.Config
	for i, l := range lines {
		m := includeLine.FindStringSubmatch(strings.TrimSuffix(l, "\r"))
		if m == nil {
			continue
		}
		args, err := splitWords(m[2], true)
		if err != nil || len(args) == 0 {
			return nil, fmt.Errorf("%s:%d: bad Include: %v", path, i+1, err)
		}
		var files []*ssh_config.Config
		for _, a := range args {
			pattern := a
			if strings.HasPrefix(a, "~/") || a == "~" {
				pattern = filepath.Join(r.Home, strings.TrimPrefix(a, "~"))
			} else if !filepath.IsAbs(a) {
				pattern = filepath.Join(r.Home, ".ssh", a)
			}
			matches, err := filepath.Glob(pattern)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: Include %s: %v", path, i+1, a, err)
			}
			for _, f := range matches { // Glob sorts them
				if fi, err := os.Stat(f); err != nil || fi.IsDir() {
					continue
				}
				c, err := r.loadFile(f, depth+1)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: Include: %w", path, i+1, err)
				}
				files = append(files, c)
			}
		}
		lines[i] = m[1] + includeKey + " " + strconv.Itoa(len(includes))
		includes = append(includes, files)
	}
	cfg, err := ssh_config.DecodeBytes([]byte(strings.Join(lines, "\n")))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(includes) > 0 && r.included == nil {
		r.included = map[*ssh_config.KV][]*ssh_config.Config{}
	}
	for _, h := range cfg.Hosts {
		for _, n := range h.Nodes {
			if kv, ok := n.(*ssh_config.KV); ok && kv.Key == includeKey {
				i, err := strconv.Atoi(kv.Value)
				if err != nil || i < 0 || i >= len(includes) {
					return nil, fmt.Errorf("%s: Include misread", path)
				}
				r.included[kv] = includes[i]
			}
		}
	}
	return cfg, nil
}

// values gives the values of key for alias in file order, Includes
// followed where they stand; only the first unless all.
func (r *Resolver) values(alias, key string, all bool) []string {
	if r.Config == nil {
		return nil
	}
	var out []string
	r.walk(r.Config, alias, key, all, &out)
	return out
}

// walk appends cfg's values of key for alias to out; it reports whether
// it is done (a value found, and only the first wanted).
func (r *Resolver) walk(cfg *ssh_config.Config, alias, key string, all bool, out *[]string) bool {
	for _, h := range cfg.Hosts {
		if !h.Matches(alias) {
			continue
		}
		for _, n := range h.Nodes {
			switch n := n.(type) {
			case *ssh_config.KV:
				if n.Key == includeKey && r.included != nil {
					if files, ok := r.included[n]; ok {
						for _, f := range files {
							if r.walk(f, alias, key, all, out) {
								return true
							}
						}
						continue
					}
				}
				if strings.EqualFold(n.Key, key) {
					*out = append(*out, n.Value)
					if !all {
						return true
					}
				}
			case *ssh_config.Include: // a Config decoded by ssh_config itself
				if all {
					v, _ := n.GetAll(alias, key)
					*out = append(*out, v...)
				} else if v := n.Get(alias, key); v != "" {
					*out = append(*out, v)
					return true
				}
			}
		}
	}
	return false
}

func (r *Resolver) get(alias, key string) string {
	if v := r.values(alias, key, false); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Resolve applies the config to a destination as ssh(1) does: values given
// in the destination win over the config's.
func (r *Resolver) Resolve(dest string) (Dest, error) {
	return r.resolve(dest, SSHArgs{}, 0)
}

// ResolveArgs is Resolve with ssh(1) command-line arguments, which win over
// the destination's user and port and over the config (identity files
// given come first). a.ConfigFile is not read here: load that Resolver.
func (r *Resolver) ResolveArgs(dest string, a SSHArgs) (Dest, error) {
	return r.resolve(dest, a, 0)
}

func (r *Resolver) resolve(dest string, a SSHArgs, depth int) (Dest, error) {
	if depth > 8 {
		return Dest{}, errors.New("ProxyJump chain too long (a loop?)")
	}
	user, alias, port, err := ParseDest(dest)
	if err != nil {
		return Dest{}, err
	}
	if a.User != "" {
		user = a.User
	}
	if a.Port != 0 {
		port = a.Port
	}
	d := Dest{Alias: alias, Host: alias, Port: port, User: user}
	if a.HostName != "" {
		d.Host = a.HostName
	} else if hn := r.get(alias, "HostName"); hn != "" {
		d.Host = r.expand(hn, d)
	}
	if d.Port == 0 {
		if p := r.get(alias, "Port"); p != "" {
			if d.Port, err = strconv.Atoi(p); err != nil || d.Port < 1 || d.Port > 65535 {
				return Dest{}, fmt.Errorf("ssh config: Host %s: bad Port %q", alias, p)
			}
		} else {
			d.Port = 22
		}
	}
	if d.User == "" {
		d.User = r.get(alias, "User")
	}
	if d.User == "" {
		d.User = r.LocalUser
	}
	for _, id := range a.Identities {
		d.IdentityFiles = append(d.IdentityFiles, r.expand(id, d))
	}
	for _, id := range r.values(alias, "IdentityFile", true) {
		d.IdentityFiles = append(d.IdentityFiles, r.expand(id, d))
	}
	d.StrictHostKeyChecking = a.StrictHostKeyChecking
	if d.StrictHostKeyChecking == "" {
		if v := r.get(alias, "StrictHostKeyChecking"); v != "" {
			if d.StrictHostKeyChecking, err = NormaliseStrict(v); err != nil {
				return Dest{}, fmt.Errorf("ssh config: Host %s: %v", alias, err)
			}
		}
	}
	for _, f := range a.KnownHostsFiles {
		d.KnownHostsFiles = append(d.KnownHostsFiles, r.expand(f, d))
	}
	if len(d.KnownHostsFiles) == 0 {
		if v := r.get(alias, "UserKnownHostsFile"); v != "" {
			files, err := splitWords(v, false)
			if err != nil {
				return Dest{}, fmt.Errorf("ssh config: Host %s: UserKnownHostsFile: %v", alias, err)
			}
			for _, f := range files {
				d.KnownHostsFiles = append(d.KnownHostsFiles, r.expand(f, d))
			}
		}
	}
	pj := strings.Join(a.Jump, ",")
	if a.NoJump {
		pj = "none"
	} else if pj == "" {
		pj = r.get(alias, "ProxyJump")
	}
	if pj != "" && !strings.EqualFold(pj, "none") {
		for _, j := range strings.Split(pj, ",") {
			d.ProxyJump = append(d.ProxyJump, strings.TrimSpace(j))
		}
		for _, j := range d.ProxyJump {
			if _, err := r.resolve(j, SSHArgs{}, depth+1); err != nil {
				return Dest{}, fmt.Errorf("ProxyJump %s: %w", j, err)
			}
		}
	} else if pc := r.get(alias, "ProxyCommand"); pj == "" && pc != "" && !strings.EqualFold(pc, "none") {
		d.ProxyCommand = pc
	}
	return d, nil
}

// Jumps resolves d's ProxyJump hosts as ssh(1) reaches them, in the order
// they are connected: the first hop with its own config (so its own
// ProxyJump hosts come before it), each later hop through the one before.
func (r *Resolver) Jumps(d Dest) ([]Dest, error) {
	return r.jumps(d.ProxyJump, 0)
}

func (r *Resolver) jumps(specs []string, depth int) ([]Dest, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	if depth > 8 {
		return nil, errors.New("ProxyJump chain too long (a loop?)")
	}
	var out []Dest
	for i, s := range specs {
		jd, err := r.Resolve(s)
		if err != nil {
			return nil, fmt.Errorf("ProxyJump %s: %w", s, err)
		}
		if jd.ProxyCommand != "" {
			return nil, fmt.Errorf("ProxyJump %s: its ProxyCommand is not supported by ops", s)
		}
		if i == 0 {
			before, err := r.jumps(jd.ProxyJump, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, before...)
		}
		jd.ProxyJump = nil
		out = append(out, jd)
	}
	return out, nil
}

// User is the User the config gives alias, if any.
func (r *Resolver) User(alias string) string { return r.get(alias, "User") }

// ExpandHome expands a leading ~/ with home.
func ExpandHome(p, home string) string {
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}

// expand handles ~ and the tokens %h %p %r %u %d %%.
func (r *Resolver) expand(s string, d Dest) string {
	if strings.HasPrefix(s, "~/") {
		s = filepath.Join(r.Home, s[2:])
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'h':
			b.WriteString(d.Host)
		case 'p':
			b.WriteString(strconv.Itoa(d.Port))
		case 'r':
			b.WriteString(d.User)
		case 'u':
			b.WriteString(r.LocalUser)
		case 'd':
			b.WriteString(r.Home)
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
