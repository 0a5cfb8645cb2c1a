package ansible

// ansible.cfg as ansible-core 2.14 finds and reads it: the search in
// ansible/config/manager.py's find_ini_config_file, the INI dialect of the
// ConfigParser(inline_comment_prefixes=(';',)) it reads the file with, and
// get_config_value_and_origin's precedence (env var > ini > default) and
// ensure_type's conversions, for the few settings ops needs.

import (
	"fmt"
	"os"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// ConfigSystemPath is the last place Ansible looks for its configuration.
const ConfigSystemPath = "/etc/ansible/ansible.cfg"

// ConfigFile is the ansible.cfg ansible would read, and what ops needs of it:
// each setting resolved as Ansible resolves it (environment variable, then
// the file, then Ansible's default).
type ConfigFile struct {
	Path     string   // the file Ansible reads; "" when none
	Warnings []string // Ansible's warnings about the search, and ops' own

	Inventory       []string // [defaults] inventory, absolute paths (DEFAULT_HOST_LIST)
	RemoteUser      string   // [defaults] remote_user; "" when unset (Ansible's None)
	PrivateKeyFile  string   // [defaults] private_key_file, absolute; "" when unset
	Timeout         int      // [defaults] timeout
	HostKeyChecking bool     // [defaults] host_key_checking
	Gathering       string   // [defaults] gathering: implicit, explicit or smart
	Become          bool     // [privilege_escalation] become
	BecomeMethod    string   // [privilege_escalation] become_method
	BecomeUser      string   // [privilege_escalation] become_user
	SSHArgs         string   // [ssh_connection] ssh_args
	SSHCommonArgs   string   // [ssh_connection] ssh_common_args
	SSHExtraArgs    string   // [ssh_connection] ssh_extra_args

	// Settings lists the settings above, in that order, with their origin.
	Settings []ConfigSetting
}

// ConfigSetting is one resolved setting and where its value came from.
type ConfigSetting struct {
	Name    string // Ansible's name: DEFAULT_HOST_LIST, or the ssh plugin's option name
	Section string // ini section, e.g. "defaults"
	Key     string // ini key, e.g. "inventory"
	Env     string // environment variable, e.g. "ANSIBLE_INVENTORY"
	Value   string // the value for display (lists joined with ", ")
	Unset   bool   // Ansible's value is None (no default, not set anywhere)
	// Origin is the environment variable's name, "FILE:LINE" of the ini
	// line, or "default".
	Origin string
}

// Origin is where the setting with ini key key came from ("" if ops does not
// read that key).
func (c *ConfigFile) Origin(key string) string {
	for _, s := range c.Settings {
		if s.Key == key {
			return s.Origin
		}
	}
	return ""
}

// LoadConfigFromOS is LoadConfig with this process's environment, working
// directory (as the kernel reports it, like Python's os.getcwd) and $HOME.
func LoadConfigFromOS() (*ConfigFile, error) {
	return LoadConfig(os.LookupEnv, "", "", ConfigSystemPath)
}

// FindConfig returns the ansible.cfg Ansible would read, in Ansible's order:
// $ANSIBLE_CONFIG (a file, or a directory holding ansible.cfg), ansible.cfg
// in cwd unless cwd is world-writable, ~/.ansible.cfg, then systemPath
// (ConfigSystemPath). The first that exists and is readable wins; path is ""
// when there is none.
//
// lookupEnv is os.LookupEnv or a stand-in (set-but-empty matters to
// Ansible). cwd is the working directory as os.getcwd() gives it ("" for this
// process's); home is what "~" means ("" for $HOME from lookupEnv, else the
// current user's home).
//
// Unlike Ansible, which silently skips it, an existing but unreadable file
// named by ANSIBLE_CONFIG is an error; a missing one is skipped like Ansible
// does, with a warning.
func FindConfig(lookupEnv func(string) (string, bool), cwd, home, systemPath string) (path string, warnings []string, err error) {
	env, err := cfgNewEnv(lookupEnv, cwd, home)
	if err != nil {
		return "", nil, err
	}
	return env.find(systemPath)
}

// LoadConfig finds ansible.cfg as FindConfig does, reads it as Ansible does
// and resolves the settings ops needs. Errors are those that stop Ansible
// too: a file it cannot parse, a configuration file name not ending in .cfg
// or .ini, a value of the wrong type, or a gathering value that is not a
// choice; and, see FindConfig, an unreadable $ANSIBLE_CONFIG.
func LoadConfig(lookupEnv func(string) (string, bool), cwd, home, systemPath string) (*ConfigFile, error) {
	env, err := cfgNewEnv(lookupEnv, cwd, home)
	if err != nil {
		return nil, err
	}
	path, warnings, err := env.find(systemPath)
	if err != nil {
		return nil, err
	}
	c := &ConfigFile{Path: path, Warnings: warnings}
	var ini *cfgINI
	if path != "" {
		switch ext := cfgSplitExt(path); ext {
		case ".cfg", ".ini":
		case ".yaml", ".yml":
			return nil, fmt.Errorf("ansible config %s: unsupported configuration file type: yaml", path)
		default:
			return nil, fmt.Errorf("ansible config %s: unsupported configuration file extension %q (ansible reads only .cfg and .ini)", path, ext)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("ansible config %s: %w", path, err)
		}
		if ini, err = cfgParseINI(path, string(b)); err != nil {
			return nil, err
		}
	}
	for _, d := range cfgDefs {
		if err := env.resolve(c, ini, d); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// cfgDef is one setting's definition, from ansible/config/base.yml or, for
// ssh_*, the ssh connection plugin's documentation.
type cfgDef struct {
	name, section, key, env string
	typ                     string // "str", "bool", "int", "path", "pathlist"
	def                     string
	hasDef                  bool
	choices                 []string
}

// cfgDefs is a constant table.
var cfgDefs = [...]cfgDef{
	{name: "DEFAULT_HOST_LIST", section: "defaults", key: "inventory", env: "ANSIBLE_INVENTORY", typ: "pathlist", def: "/etc/ansible/hosts", hasDef: true},
	{name: "DEFAULT_REMOTE_USER", section: "defaults", key: "remote_user", env: "ANSIBLE_REMOTE_USER", typ: "str"},
	{name: "DEFAULT_PRIVATE_KEY_FILE", section: "defaults", key: "private_key_file", env: "ANSIBLE_PRIVATE_KEY_FILE", typ: "path"},
	{name: "DEFAULT_TIMEOUT", section: "defaults", key: "timeout", env: "ANSIBLE_TIMEOUT", typ: "int", def: "10", hasDef: true},
	{name: "HOST_KEY_CHECKING", section: "defaults", key: "host_key_checking", env: "ANSIBLE_HOST_KEY_CHECKING", typ: "bool", def: "true", hasDef: true},
	{name: "DEFAULT_GATHERING", section: "defaults", key: "gathering", env: "ANSIBLE_GATHERING", typ: "str", def: "implicit", hasDef: true, choices: []string{"implicit", "explicit", "smart"}},
	{name: "DEFAULT_BECOME", section: "privilege_escalation", key: "become", env: "ANSIBLE_BECOME", typ: "bool", def: "false", hasDef: true},
	{name: "DEFAULT_BECOME_METHOD", section: "privilege_escalation", key: "become_method", env: "ANSIBLE_BECOME_METHOD", typ: "str", def: "sudo", hasDef: true},
	{name: "DEFAULT_BECOME_USER", section: "privilege_escalation", key: "become_user", env: "ANSIBLE_BECOME_USER", typ: "str", def: "root", hasDef: true},
	{name: "ssh_args", section: "ssh_connection", key: "ssh_args", env: "ANSIBLE_SSH_ARGS", typ: "str", def: "-C -o ControlMaster=auto -o ControlPersist=60s", hasDef: true},
	{name: "ssh_common_args", section: "ssh_connection", key: "ssh_common_args", env: "ANSIBLE_SSH_COMMON_ARGS", typ: "str", def: "", hasDef: true},
	{name: "ssh_extra_args", section: "ssh_connection", key: "ssh_extra_args", env: "ANSIBLE_SSH_EXTRA_ARGS", typ: "str", def: "", hasDef: true},
}

// cfgEnv is what Ansible takes from its process: environment, cwd, $HOME.
type cfgEnv struct {
	lookup func(string) (string, bool)
	cwd    string
	home   string
}

func cfgNewEnv(lookupEnv func(string) (string, bool), cwd, home string) (*cfgEnv, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	if cwd == "" {
		wd, err := unix.Getwd() // the physical path, as Python's os.getcwd()
		if err != nil {
			return nil, fmt.Errorf("ansible config: working directory: %w", err)
		}
		cwd = wd
	}
	if home == "" {
		if h, ok := lookupEnv("HOME"); ok {
			home = h
		} else if u, err := user.Current(); err == nil {
			home = u.HomeDir
		}
	}
	return &cfgEnv{lookup: lookupEnv, cwd: cwd, home: home}, nil
}

// cfgWorldWritableWarning is Ansible's warning, word for word.
const cfgWorldWritableWarning = "Ansible is being run in a world writable directory (%s)," +
	" ignoring it as an ansible.cfg source." +
	" For more information see" +
	" https://docs.ansible.com/ansible/devel/reference_appendices/config.html#cfg-in-world-writable-dir"

// find is find_ini_config_file.
func (e *cfgEnv) find(systemPath string) (string, []string, error) {
	var candidates, warnings []string
	fromEnv, envSet := e.lookup("ANSIBLE_CONFIG")
	if envSet {
		fromEnv = e.unfrack(fromEnv, e.cwd)
		if st, err := os.Stat(fromEnv); err == nil && st.IsDir() {
			fromEnv = cfgJoin(fromEnv, "ansible.cfg")
		}
		if _, err := os.Stat(fromEnv); err == nil && !cfgReadable(fromEnv) {
			return "", nil, fmt.Errorf("ansible config %s (from ANSIBLE_CONFIG) is not readable", fromEnv)
		}
		candidates = append(candidates, fromEnv)
	}
	warnPublic := false
	if st, err := os.Stat(e.cwd); err == nil {
		cwdCfg := cfgJoin(e.cwd, "ansible.cfg")
		if st.Mode().Perm()&0o002 != 0 {
			// World-writable: skipped, but Ansible warns if there is a file.
			if _, err := os.Stat(cwdCfg); err == nil {
				warnPublic = true
			}
		} else {
			candidates = append(candidates, cwdCfg)
		}
	}
	candidates = append(candidates, e.unfrack("~/.ansible.cfg", e.cwd), systemPath)

	found := ""
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil && cfgReadable(p) {
			found = p
			break
		}
	}
	if warnPublic && !(envSet && fromEnv == found) {
		warnings = append(warnings, fmt.Sprintf(cfgWorldWritableWarning, e.cwd))
	}
	if envSet && fromEnv != found {
		warnings = append(warnings, fmt.Sprintf("ANSIBLE_CONFIG names %s, which does not exist; ansible ignores it", fromEnv))
	}
	return found, warnings, nil
}

// cfgReadable is os.access(path, os.R_OK).
func cfgReadable(path string) bool {
	return unix.Access(path, unix.R_OK) == nil
}

// resolve is get_config_value_and_origin and ensure_type for one setting,
// stored into c.
func (e *cfgEnv) resolve(c *ConfigFile, ini *cfgINI, d cfgDef) error {
	raw, origin, unset := "", "default", false
	fileOrigin := false
	if v, ok := e.lookup(d.env); ok {
		raw, origin = v, d.env
	} else if v, line, ok := ini.get(d.section, d.key); ok {
		raw, origin, fileOrigin = v, fmt.Sprintf("%s:%d", c.Path, line), true
	} else if d.hasDef {
		raw = d.def
	} else {
		unset = true
	}
	// Relative paths are relative to the config file's directory when the
	// value came from it, else to the working directory.
	base := e.cwd
	if fileOrigin {
		base = cfgDirname(c.Path)
	}
	s := ConfigSetting{Name: d.name, Section: d.section, Key: d.key, Env: d.env, Origin: origin, Unset: unset}
	bad := func(err error) error {
		return fmt.Errorf("ansible config: invalid value %q for %s (from %s): %v", raw, d.name, origin, err)
	}
	var (
		str  string
		list []string
		b    bool
		n    int
	)
	switch d.typ {
	case "str":
		if !unset {
			str = cfgUnquote(raw)
			if d.choices != nil && !cfgContains(d.choices, str) {
				return bad(fmt.Errorf("valid values are: %s", strings.Join(d.choices, ", ")))
			}
		}
		s.Value = str
	case "path":
		if !unset {
			str = e.resolvePath(raw, base)
		}
		s.Value = str
	case "pathlist":
		for _, p := range strings.Split(raw, ",") {
			list = append(list, e.resolvePath(cfgStrip(p), base))
		}
		s.Value = strings.Join(list, ", ")
	case "bool":
		b = cfgBoolean(raw)
		s.Value = strconv.FormatBool(b)
	case "int":
		v, err := cfgPyInt(raw)
		if err != nil && origin == d.env && raw == "" {
			// An empty environment variable for a non-string falls back
			// to the default.
			s.Origin = "default"
			v, err = cfgPyInt(d.def)
		}
		if err != nil {
			return bad(err)
		}
		n = v
		s.Value = strconv.Itoa(n)
	}
	switch d.key {
	case "inventory":
		c.Inventory = list
	case "remote_user":
		c.RemoteUser = str
	case "private_key_file":
		c.PrivateKeyFile = str
	case "timeout":
		c.Timeout = n
	case "host_key_checking":
		c.HostKeyChecking = b
	case "gathering":
		c.Gathering = str
	case "become":
		c.Become = b
	case "become_method":
		c.BecomeMethod = str
	case "become_user":
		c.BecomeUser = str
	case "ssh_args":
		c.SSHArgs = str
	case "ssh_common_args":
		c.SSHCommonArgs = str
	case "ssh_extra_args":
		c.SSHExtraArgs = str
	}
	c.Settings = append(c.Settings, s)
	return nil
}

func cfgContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// resolvePath is manager.py's resolve_path: {{CWD}}, then unfrackpath
// without following symlinks.
func (e *cfgEnv) resolvePath(p, base string) string {
	p = strings.ReplaceAll(p, "{{CWD}}", e.cwd)
	return e.unfrack(p, base)
}

// unfrack is ansible.utils.path.unfrackpath(p, follow=False, basedir=base):
// expandvars, expanduser, relative to base, normpath.
func (e *cfgEnv) unfrack(p, base string) string {
	p = e.expandUser(e.expandVars(p))
	if !strings.HasPrefix(p, "/") {
		p = cfgJoin(base, p)
	}
	return cfgNormpath(p)
}

var cfgVarRe = regexp.MustCompile(`\$(\w+|\{[^}]*\})`)

// expandVars is posixpath.expandvars: $name and ${name}; unknown names are
// left alone.
func (e *cfgEnv) expandVars(p string) string {
	if !strings.Contains(p, "$") {
		return p
	}
	return cfgVarRe.ReplaceAllStringFunc(p, func(m string) string {
		name := m[1:]
		if strings.HasPrefix(name, "{") {
			name = name[1 : len(name)-1]
		}
		if v, ok := e.lookup(name); ok {
			return v
		}
		return m
	})
}

// expandUser is posixpath.expanduser.
func (e *cfgEnv) expandUser(p string) string {
	if !strings.HasPrefix(p, "~") {
		return p
	}
	i := strings.IndexByte(p[1:], '/') + 1
	if i == 0 {
		i = len(p)
	}
	var home string
	if i == 1 {
		home = e.home
	} else {
		u, err := user.Lookup(p[1:i])
		if err != nil {
			return p
		}
		home = u.HomeDir
	}
	if r := strings.TrimRight(home, "/") + p[i:]; r != "" {
		return r
	}
	return "/"
}

// cfgJoin is posixpath.join(a, b) for a relative b.
func cfgJoin(a, b string) string {
	if strings.HasPrefix(b, "/") {
		return b
	}
	if a == "" || strings.HasSuffix(a, "/") {
		return a + b
	}
	return a + "/" + b
}

// cfgNormpath is posixpath.normpath, which unlike filepath.Clean keeps a
// leading "//".
func cfgNormpath(p string) string {
	if p == "" {
		return "."
	}
	initial := 0
	if strings.HasPrefix(p, "/") {
		initial = 1
		if strings.HasPrefix(p, "//") && !strings.HasPrefix(p, "///") {
			initial = 2
		}
	}
	var comps []string
	for _, c := range strings.Split(p, "/") {
		switch {
		case c == "" || c == ".":
		case c != ".." || (initial == 0 && len(comps) == 0) || (len(comps) > 0 && comps[len(comps)-1] == ".."):
			comps = append(comps, c)
		case len(comps) > 0:
			comps = comps[:len(comps)-1]
		}
	}
	r := strings.Repeat("/", initial) + strings.Join(comps, "/")
	if r == "" {
		return "."
	}
	return r
}

// cfgDirname is posixpath.dirname.
func cfgDirname(p string) string {
	head := p[:strings.LastIndexByte(p, '/')+1]
	if head != "" && strings.Trim(head, "/") != "" {
		head = strings.TrimRight(head, "/")
	}
	return head
}

// cfgSplitExt is the extension os.path.splitext finds: from the last dot of
// the base name, if something other than dots precedes it.
func cfgSplitExt(p string) string {
	base := p[strings.LastIndexByte(p, '/')+1:]
	dot := strings.LastIndexByte(base, '.')
	if dot <= 0 || strings.Trim(base[:dot], ".") == "" {
		return ""
	}
	return base[dot:]
}

// cfgIsSpace is Python's str.isspace for one character.
func cfgIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// cfgStrip and cfgRstrip are Python's str.strip() and str.rstrip().
func cfgStrip(s string) string  { return strings.TrimFunc(s, cfgIsSpace) }
func cfgRstrip(s string) string { return strings.TrimRightFunc(s, cfgIsSpace) }

// cfgUnquote is ansible.parsing.quoting.unquote.
func cfgUnquote(s string) string {
	if len(s) > 1 && s[0] == s[len(s)-1] && (s[0] == '"' || s[0] == '\'') && s[len(s)-2] != '\\' {
		return s[1 : len(s)-1]
	}
	return s
}

// cfgBoolean is boolean(value, strict=False): anything but a true spelling
// is false.
func cfgBoolean(s string) bool {
	switch cfgStrip(strings.ToLower(s)) {
	case "y", "yes", "on", "1", "true", "t":
		return true
	}
	return false
}

// cfgPyInt is Python's int(str) in base 10: surrounding whitespace, a sign,
// and underscores between digits allowed.
func cfgPyInt(s string) (int, error) {
	t := cfgStrip(s)
	digits := strings.TrimLeft(t, "+-")
	if len(t)-len(digits) > 1 || digits == "" || digits[0] == '_' || digits[len(digits)-1] == '_' || strings.Contains(digits, "__") {
		return 0, fmt.Errorf("invalid literal for int() with base 10: %q", s)
	}
	n, err := strconv.ParseInt(t[:len(t)-len(digits)]+strings.ReplaceAll(digits, "_", ""), 10, strconv.IntSize)
	if err != nil {
		return 0, fmt.Errorf("invalid literal for int() with base 10: %q", s)
	}
	return int(n), nil
}

// cfgINI is a file read as Python 3's configparser.ConfigParser(
// inline_comment_prefixes=(';',)) reads it: sections by exact name, keys
// lower-cased, [DEFAULT] a fallback for every section.
type cfgINI struct {
	sections map[string]map[string]*cfgINIValue
	defaults map[string]*cfgINIValue
}

type cfgINIValue struct {
	parts []string
	value string
	line  int
}

// get is ConfigParser.get(section, key, raw=True): no value when the section
// does not exist, even if [DEFAULT] has the key.
func (ini *cfgINI) get(section, key string) (string, int, bool) {
	if ini == nil {
		return "", 0, false
	}
	key = strings.ToLower(key)
	if section != "DEFAULT" {
		sec, ok := ini.sections[section]
		if !ok {
			return "", 0, false
		}
		if v, ok := sec[key]; ok {
			return v.value, v.line, true
		}
	}
	if v, ok := ini.defaults[key]; ok {
		return v.value, v.line, true
	}
	return "", 0, false
}

// cfgParseINI is RawConfigParser._read, strict, with '#' and ';' starting
// comment lines, ';' after whitespace starting an inline comment ('#' does
// not), '=' or ':' between key and value, and lines indented deeper than
// their key continuing its value.
func cfgParseINI(name, text string) (*cfgINI, error) {
	ini := &cfgINI{sections: map[string]map[string]*cfgINIValue{}, defaults: map[string]*cfgINIValue{}}
	var (
		cur         map[string]*cfgINIValue
		sectName    string
		optName     string
		indentLevel int
		optAdded    = map[[2]string]bool{}
		bad         []string
	)
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, line := range lines {
		lineno := i + 1
		end := len(line)
		comment := false
		for j := 0; j < len(line); j++ {
			if line[j] != ';' {
				continue
			}
			if r, _ := utf8.DecodeLastRuneInString(line[:j]); j == 0 || cfgIsSpace(r) {
				end, comment = j, true
				break
			}
		}
		if st := cfgStrip(line); strings.HasPrefix(st, "#") || strings.HasPrefix(st, ";") {
			end, comment = 0, true
		}
		value := cfgStrip(line[:end])
		if value == "" {
			// A blank line belongs to the value being read (trailing ones
			// are stripped at the end); a comment line does not.
			if !comment && cur != nil && optName != "" && cur[optName] != nil {
				cur[optName].parts = append(cur[optName].parts, "")
			}
			continue
		}
		indent := 0
		for _, r := range line {
			if !cfgIsSpace(r) {
				break
			}
			indent++
		}
		if cur != nil && optName != "" && indent > indentLevel {
			cur[optName].parts = append(cur[optName].parts, value)
			continue
		}
		indentLevel = indent
		if j := strings.LastIndexByte(value, ']'); value[0] == '[' && j >= 2 {
			sectName = value[1:j]
			if _, dup := ini.sections[sectName]; dup {
				return nil, fmt.Errorf("ansible config %s:%d: section %q already exists", name, lineno, sectName)
			}
			if sectName == "DEFAULT" {
				cur = ini.defaults
			} else {
				cur = map[string]*cfgINIValue{}
				ini.sections[sectName] = cur
			}
			optName = ""
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("ansible config %s:%d: file contains no section headers: %q", name, lineno, line)
		}
		j := strings.IndexAny(value, "=:")
		if j <= 0 {
			bad = append(bad, fmt.Sprintf("%d: %q", lineno, line))
			if j == 0 {
				optName = ""
			}
			continue
		}
		opt := strings.ToLower(cfgRstrip(value[:j]))
		if optAdded[[2]string{sectName, opt}] {
			return nil, fmt.Errorf("ansible config %s:%d: option %q in section %q already exists", name, lineno, opt, sectName)
		}
		optAdded[[2]string{sectName, opt}] = true
		cur[opt] = &cfgINIValue{parts: []string{cfgStrip(value[j+1:])}, line: lineno}
		optName = opt
	}
	if bad != nil {
		return nil, fmt.Errorf("ansible config %s: parsing errors at lines %s", name, strings.Join(bad, ", "))
	}
	for _, sec := range append([]map[string]*cfgINIValue{ini.defaults}, cfgSections(ini)...) {
		for _, v := range sec {
			v.value = cfgRstrip(strings.Join(v.parts, "\n"))
			v.parts = nil
		}
	}
	return ini, nil
}

func cfgSections(ini *cfgINI) []map[string]*cfgINIValue {
	var out []map[string]*cfgINIValue
	for _, s := range ini.sections {
		out = append(out, s)
	}
	return out
}
