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
	ProxyJump     []string // jump destinations, each resolved again
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
}

// LoadResolver reads the config at path; a missing file is no config.
func LoadResolver(path, localUser, home string) (*Resolver, error) {
	r := &Resolver{LocalUser: localUser, Home: home}
	if path == "" {
		return r, nil
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return r, nil
		}
		return nil, err
	}
	defer f.Close()
	cfg, err := ssh_config.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.Config = cfg
	return r, nil
}

func (r *Resolver) get(alias, key string) string {
	if r.Config == nil {
		return ""
	}
	v, _ := r.Config.Get(alias, key)
	return v
}

// Resolve applies the config to a destination as ssh(1) does: values given
// in the destination win over the config's.
func (r *Resolver) Resolve(dest string) (Dest, error) {
	return r.resolve(dest, 0)
}

func (r *Resolver) resolve(dest string, depth int) (Dest, error) {
	if depth > 8 {
		return Dest{}, errors.New("ProxyJump chain too long (a loop?)")
	}
	user, alias, port, err := ParseDest(dest)
	if err != nil {
		return Dest{}, err
	}
	d := Dest{Alias: alias, Host: alias, Port: port, User: user}
	if hn := r.get(alias, "HostName"); hn != "" {
		d.Host = r.expand(hn, d)
	}
	if d.Port == 0 {
		if p := r.get(alias, "Port"); p != "" {
			if d.Port, err = strconv.Atoi(p); err != nil {
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
	if r.Config != nil {
		ids, _ := r.Config.GetAll(alias, "IdentityFile")
		for _, id := range ids {
			d.IdentityFiles = append(d.IdentityFiles, r.expand(id, d))
		}
	}
	if pj := r.get(alias, "ProxyJump"); pj != "" && !strings.EqualFold(pj, "none") {
		d.ProxyJump = strings.Split(pj, ",")
		for _, j := range d.ProxyJump {
			if _, err := r.resolve(strings.TrimSpace(j), depth+1); err != nil {
				return Dest{}, fmt.Errorf("ProxyJump %s: %w", j, err)
			}
		}
	}
	return d, nil
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
