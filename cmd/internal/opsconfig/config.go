// Package opsconfig resolves ops's settings: flag > environment > ops.yaml >
// the per-user file > default, remembering where each value came from. Every key's environment
// variable is OPS_ + the key path in upper snake case (log.dir → OPS_LOG_DIR).
package opsconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kind is the type of a key's value.
type Kind int

const (
	String Kind = iota
	Bool
	List
)

// Key describes one setting.
type Key struct {
	Name    string
	Kind    Kind
	Default string // lists: comma-separated
	Help    string
	Secret  bool // masked by Show
}

// Env is the environment variable of the key.
func (k Key) Env() string {
	return "OPS_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(k.Name))
}

// DefaultSecretPatterns are the regular expressions the run log masks (a
// fresh slice each call); log.secret_patterns adds to them and only
// log.replace_secret_patterns drops them. They are: AWS access key IDs and
// secret keys; the password in a URL (scheme://user:PASSWORD@); an HTTP
// Authorization header's credentials; and the value of "key=value",
// "key: value" (YAML) and `"key": "value"` (JSON) whose key names a secret:
// password, passwd, passphrase, secret, token, api_key, apikey, with any
// prefix (ansible_become_password, db_password, x-api-key), and pass after
// a prefix (ansible_become_pass, ansible_ssh_pass; not a bare "PASS:"). A
// value is a quoted string or a plain token; a token that goes on into
// "(", "[", "{", "<" or "`" is code (passwd = getpass(prompt)), not a secret.
// Only the value is masked (the groups named "secret"): the key and the
// separator stay.
func DefaultSecretPatterns() []string {
	key := `(?:[a-z0-9]+[_.-])*(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey)|(?:[a-z0-9]+[_.-])+pass`
	quoted := `"(?P<secret>[^"\n]+)"|'(?P<secret>[^'\n]+)'`
	// A token: not starting with "=" (a comparison), ending where a plain
	// value ends; every byte that may end it is one the token cannot hold,
	// so a shorter token never ends in front of "(".
	token := `(?P<secret>[^\s"'=(){}\[\]<>,;&|` + "`" + `][^\s"'(){}\[\]<>,;&|` + "`" + `]*)(?:$|[\s"',;&|)}\]>])`
	return []string{
		`(AKIA|ASIA)[0-9A-Z]{16}`,
		`(?i)aws_secret_access_key["']?\s*[=:]\s*["']?[A-Za-z0-9/+]{20,}`,
		`(?i)\b(?:` + key + `)\b["']?[ \t]*[=:][ \t]*(?:` + quoted + `|` + token + `)`,
		`[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:(?P<secret>[^/\s@]+)@`,
		`(?i)\bauthorization:[ \t]*(?:bearer|basic|token)[ \t]+(?P<secret>[^\s"']+)`,
	}
}

// Keys is the schema: every key ops reads.
var Keys = []Key{
	{Name: "server.host", Help: "operation server: SSH destination ([user@]host[:port]) or ~/.ssh/config alias"},
	{Name: "server.docker_socket", Default: "/var/run/docker.sock", Help: "Docker engine socket on the operation server"},
	{Name: "image.name", Default: "ops-ansible", Help: "image repository, with its registry host"},
	{Name: "image.tag", Default: "latest", Help: "image tag"},
	{Name: "image.base", Default: "debian:bookworm-slim", Help: "base image the Dockerfile builds FROM"},
	{Name: "registry.auth", Default: "auto", Help: "registry credentials: auto (ECR for ECR host names, else docker config), ecr, docker-config"},
	{Name: "registry.ecr_endpoint", Help: "ECR API endpoint (empty: AWS's own)"},
	{Name: "registry.ecr_region", Help: "ECR region (empty: from the registry host name or AWS config)"},
	{Name: "aws.profile", Help: "AWS shared-config profile (empty: the SDK's default chain)"},
	{Name: "ssh.config", Default: "~/.ssh/config", Help: "OpenSSH client config to resolve destinations with"},
	{Name: "ssh.known_hosts", Default: "~/.ssh/known_hosts", Help: "known_hosts file for host-key checks"},
	{Name: "ssh.agent_keys", Kind: List, Help: "restrict the forwarded agent to these keys (SHA256 fingerprints or comments); empty: all"},
	{Name: "target.user", Help: "login user on targets (ANSIBLE_REMOTE_USER); empty: the local user"},
	{Name: "log.enabled", Kind: Bool, Default: "true", Help: "record every run in the run log"},
	{Name: "log.dir", Default: "~/.local/share/ops/runlog", Help: "local clone of the run-log repository"},
	{Name: "log.remote", Help: "remote the run log is pushed to (empty: local only)", Secret: true},
	{Name: "log.project", Help: "branch of the run log (empty: the name of the git checkout ops runs in, else \"default\")"},
	{Name: "log.secret_patterns", Kind: List, Help: "regular expressions masked in run logs, in addition to the built-in ones (AWS keys, password=/token=/… values); groups named \"secret\" mark the part masked"},
	{Name: "log.replace_secret_patterns", Kind: Bool, Default: "false", Help: "log.secret_patterns replaces the built-in patterns instead of adding to them (ops warns on every logged run)"},
	{Name: "container.env", Kind: List, Help: "environment variable names passed into the container (values never on a command line)"},
	{Name: "container.mounts", Kind: List, Help: "read-only mounts HOSTPATH:CONTAINERPATH on the operation server, each source required to exist; not set: the server's /etc/mackerel-agent/mackerel-agent.conf when it has one; [] mounts nothing"},
}

// Lookup finds a key of the schema.
func Lookup(name string) (Key, bool) {
	for _, k := range Keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// Value is one resolved setting.
type Value struct {
	Key    Key
	Raw    string   // strings and bools
	Items  []string // lists
	Source string   // "default", "FILE:LINE", "env OPS_X", "flag --x"
}

func (v Value) String() string {
	if v.Key.Kind == List {
		return strings.Join(v.Items, ",")
	}
	return v.Raw
}

// Config is the resolved configuration.
type Config struct {
	File   string   // the file of highest precedence read, if any
	Files  []string // every file read, highest precedence first
	values map[string]*Value
	sites  map[string]*Site // sites: named operation servers
}

func (c *Config) read(path string, b []byte) error {
	c.File = path
	c.Files = append([]string{path}, c.Files...)
	return c.parse(path, b)
}

// Options say where to look.
type Options struct {
	// Path is --config; if empty OPS_CONFIG. Either names the one file
	// read; else ops.yaml found walking up from Dir is read over the
	// per-user file (UserFile; if empty opsconfig.UserFile(Getenv)).
	Path     string
	Dir      string // working directory
	UserFile string
	Getenv   func(string) string
	// Environ lists the environment (for OPS_SITES_…); nil: os.Environ.
	Environ func() []string
	Flags   map[string]string // key → value given by flag
	FlagOf  map[string]string // key → flag name, for Source
}

// BadValue is a mistake in what the user wrote: a key, a value, a file's syntax.
type BadValue struct{ msg string }

func (e *BadValue) Error() string { return e.msg }

func bad(format string, a ...any) error { return &BadValue{fmt.Sprintf(format, a...)} }

// FileName is what the walk up looks for.
const FileName = "ops.yaml"

// Load resolves every key.
func Load(o Options) (*Config, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	c := &Config{values: map[string]*Value{}}
	for _, k := range Keys {
		v := &Value{Key: k, Source: "default"}
		if err := v.set(k.Default, true); err != nil {
			return nil, fmt.Errorf("default of %s: %w", k.Name, err)
		}
		c.values[k.Name] = v
	}
	path := o.Path
	if path == "" {
		path = o.Getenv("OPS_CONFIG")
	}
	if path != "" {
		// One file named: neither ops.yaml nor the per-user file.
		b, err := readTrusted(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				// A file the user named that is not there is a mistake
				// in what they typed (exit 2), not a failure of ops.
				return nil, bad("config: %v", err)
			}
			var bv *BadValue
			if errors.As(err, &bv) {
				return nil, err
			}
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := c.read(path, b); err != nil {
			return nil, err
		}
	} else {
		user := o.UserFile
		if user == "" {
			user = UserFile(o.Getenv)
		}
		// The per-user file first: ops.yaml's keys override it.
		for _, p := range []string{user, findUp(o.Dir)} {
			if p == "" {
				continue
			}
			b, err := readTrusted(p)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				var bv *BadValue
				if errors.As(err, &bv) {
					return nil, err
				}
				return nil, fmt.Errorf("config: %w", err)
			}
			if err := c.read(p, b); err != nil {
				return nil, err
			}
		}
	}
	for _, k := range Keys {
		if s, ok := lookupEnv(o.Getenv, k.Env()); ok {
			v := c.values[k.Name]
			if err := v.set(s, true); err != nil {
				return nil, bad("%s: %v", k.Env(), err)
			}
			v.Source = "env " + k.Env()
		}
	}
	environ := o.Environ
	if environ == nil {
		environ = os.Environ
	}
	if err := c.sitesFromEnv(environ()); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(o.Flags))
	for name := range o.Flags {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v, ok := c.values[name]
		if !ok {
			return nil, fmt.Errorf("flag for unknown key %q", name)
		}
		if err := v.set(o.Flags[name], true); err != nil {
			return nil, bad("--%s: %v", o.FlagOf[name], err)
		}
		v.Source = "flag --" + o.FlagOf[name]
	}
	if err := c.checkSites(); err != nil {
		return nil, err
	}
	if !c.Bool("log.replace_secret_patterns") {
		v := c.values["log.secret_patterns"]
		v.Items = append(DefaultSecretPatterns(), v.Items...)
	}
	return c, nil
}

// SecretPatternsWarning is the warning ops prints when the run log is
// masked by log.secret_patterns alone (log.replace_secret_patterns), else "".
func (c *Config) SecretPatternsWarning() string {
	v := c.Get("log.replace_secret_patterns")
	if v.Raw != "true" {
		return ""
	}
	return fmt.Sprintf("log.replace_secret_patterns is set (%s): the built-in secret patterns (AWS keys, password=, token=, …) are off; only log.secret_patterns masks the run log", v.Source)
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	s := getenv(name)
	return s, s != ""
}

func findUp(dir string) string {
	if dir == "" {
		return ""
	}
	for {
		p := filepath.Join(dir, FileName)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// set parses s for the key's kind; lists from text are comma-separated.
func (v *Value) set(s string, text bool) error {
	switch v.Key.Kind {
	case Bool:
		if s == "" {
			s = "false"
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.Raw = strconv.FormatBool(b)
	case List:
		v.Items = nil
		if text && s != "" {
			v.Items = splitList(s)
		}
	default:
		v.Raw = s
	}
	return nil
}

// splitList splits on commas that are not inside a {…} or (…) of a regular expression.
func splitList(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '{', '(', '[':
			depth++
		case '}', ')', ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

func (c *Config) parse(path string, b []byte) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return bad("%s: %v", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		if root.Tag == "!!null" {
			return nil
		}
		return bad("%s:%d: the top level must be a mapping of keys", path, root.Line)
	}
	return c.walk(path, "", root)
}

func (c *Config) walk(path, prefix string, m *yaml.Node) error {
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, vn := m.Content[i], m.Content[i+1]
		name := kn.Value
		if prefix != "" {
			name = prefix + "." + kn.Value
		}
		if seen[kn.Value] {
			return bad("%s:%d: key %q is given twice", path, kn.Line, name)
		}
		seen[kn.Value] = true
		if name == "sites" {
			if err := c.parseSites(path, vn); err != nil {
				return err
			}
			continue
		}
		v, ok := c.values[name]
		if !ok {
			if vn.Kind == yaml.MappingNode && isSection(name) {
				if err := c.walk(path, name, vn); err != nil {
					return err
				}
				continue
			}
			return bad("%s:%d: unknown key %q%s", path, kn.Line, name, suggest(name))
		}
		where := fmt.Sprintf("%s:%d", path, kn.Line)
		switch v.Key.Kind {
		case List:
			if vn.Kind == yaml.ScalarNode && vn.Tag == "!!null" {
				v.Items = nil
			} else if vn.Kind != yaml.SequenceNode {
				return bad("%s: key %q must be a list", where, name)
			} else {
				v.Items = nil
				for _, it := range vn.Content {
					if it.Kind != yaml.ScalarNode {
						return bad("%s:%d: key %q: list items must be plain values", path, it.Line, name)
					}
					v.Items = append(v.Items, it.Value)
				}
			}
		default:
			if vn.Kind != yaml.ScalarNode {
				return bad("%s: key %q must be a single value", where, name)
			}
			s := vn.Value
			if vn.Tag == "!!null" {
				s = ""
			}
			if err := v.set(s, false); err != nil {
				return bad("%s: key %q: %v", where, name, err)
			}
		}
		v.Source = where
	}
	return nil
}

func isSection(prefix string) bool {
	for _, k := range Keys {
		if strings.HasPrefix(k.Name, prefix+".") {
			return true
		}
	}
	return false
}

// suggest names a key of the same section or leaf, for typos.
func suggest(name string) string {
	best, bestD := "", 3
	for _, k := range Keys {
		if d := distance(name, k.Name); d < bestD {
			best, bestD = k.Name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Get returns the resolved value of a key; it panics on a key not in the
// schema, which is a programming error.
func (c *Config) Get(name string) Value {
	v, ok := c.values[name]
	if !ok {
		panic("opsconfig: unknown key " + name)
	}
	return *v
}

// String returns a string key's value.
func (c *Config) String(name string) string { return c.Get(name).Raw }

// Bool returns a bool key's value.
func (c *Config) Bool(name string) bool { return c.Get(name).Raw == "true" }

// List returns a list key's value.
func (c *Config) List(name string) []string { return slices.Clone(c.Get(name).Items) }

// Path returns a string key's value with a leading ~/ expanded.
func (c *Config) Path(name string) string { return ExpandHome(c.String(name)) }

// ExpandHome expands a leading ~/.
func ExpandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	return p
}

// All returns every value in schema order.
func (c *Config) All() []Value {
	out := make([]Value, 0, len(Keys))
	for _, k := range Keys {
		out = append(out, *c.values[k.Name])
	}
	return out
}

// Mask hides all of a secret but a short prefix.
func Mask(s string) string {
	if s == "" {
		return ""
	}
	if len(s) <= 8 {
		return "****"
	}
	return s[:4] + "****"
}

// UserFile is the per-user configuration file:
// $XDG_CONFIG_HOME/ops/config.yaml, or ~/.config/ops/config.yaml when
// XDG_CONFIG_HOME is unset or not absolute (as the XDG base directory
// specification says); "" when neither it nor HOME is set.
func UserFile(getenv func(string) string) string {
	dir := getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(dir) {
		home := getenv("HOME")
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "ops", "config.yaml")
}
