package ansible

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestConfigParseINI(t *testing.T) {
	type want struct {
		section, key, value string
		line                int
		missing             bool
	}
	for _, tc := range []struct {
		name, text string
		err        bool
		want       []want
	}{
		{name: "equals and colon", text: "[defaults]\nremote_user = bob\nTimeout: 30\n  \n",
			want: []want{{"defaults", "remote_user", "bob", 2, false}, {"defaults", "timeout", "30", 3, false}, {"defaults", "TIMEOUT", "30", 3, false}}},
		{name: "first delimiter wins", text: "[defaults]\nssh = a:b=c\nx=y: z\n",
			want: []want{{"defaults", "ssh", "a:b=c", 2, false}, {"defaults", "x", "y: z", 3, false}}},
		{name: "comments", text: "# top\n; top\n[defaults] ; c\na = 1 ; inline\nb = 2 # not a comment\nc = 3;not either\nd = ;all comment\n  # indented full-line comment\ne =\n",
			want: []want{{"defaults", "a", "1", 4, false}, {"defaults", "b", "2 # not a comment", 5, false}, {"defaults", "c", "3;not either", 6, false}, {"defaults", "d", "", 7, false}, {"defaults", "e", "", 9, false}}},
		{name: "continuation", text: "[s]\nk = a\n  b\n\n\tc\n# comment\n  d\n\n\nn = 1\n  \n",
			want: []want{{"s", "k", "a\nb\n\nc\nd", 2, false}, {"s", "n", "1", 10, false}}},
		{name: "deeper key is a continuation", text: "[s]\n  k = a\n    j = b\n",
			want: []want{{"s", "k", "a\nj = b", 2, false}, {"s", "j", "", 0, true}}},
		{name: "DEFAULT is a fallback for existing sections only", text: "[DEFAULT]\nk = d\nx = dx\n[s]\nk = s\n",
			want: []want{{"s", "k", "s", 5, false}, {"s", "x", "dx", 3, false}, {"other", "x", "", 0, true}, {"DEFAULT", "x", "dx", 3, false}}},
		{name: "section names are exact", text: "[ s ]\nk = 1\n[S]\nk = 2\n[s] trailing\nk = 3\n[a]b]\nk = 4\n",
			want: []want{{" s ", "k", "1", 2, false}, {"S", "k", "2", 4, false}, {"s", "k", "3", 6, false}, {"a]b", "k", "4", 8, false}}},
		{name: "crlf", text: "[s]\r\nk = v\r\n",
			want: []want{{"s", "k", "v", 2, false}}},
		{name: "percent is raw", text: "[s]\nk = %(x)s %%\n",
			want: []want{{"s", "k", "%(x)s %%", 2, false}}},
		{name: "DEFAULT twice is fine", text: "[DEFAULT]\na = 1\n[DEFAULT]\nb = 2\n[s]\n",
			want: []want{{"s", "a", "1", 2, false}, {"s", "b", "2", 4, false}}},
		{name: "no section", text: "k = v\n", err: true},
		{name: "bom", text: "\ufeff[s]\nk = v\n", err: true},
		{name: "duplicate section", text: "[s]\n[t]\n[s]\n", err: true},
		{name: "duplicate option", text: "[s]\nk = 1\nK = 2\n", err: true},
		{name: "duplicate DEFAULT option", text: "[DEFAULT]\nk = 1\n[DEFAULT]\nk = 2\n", err: true},
		{name: "no delimiter", text: "[s]\njunk\n", err: true},
		{name: "empty key", text: "[s]\n= v\n", err: true},
		{name: "empty brackets", text: "[]\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ini, err := cfgParseINI("test.cfg", tc.text)
			if tc.err {
				if err == nil {
					t.Fatalf("no error")
				}
				if !strings.Contains(err.Error(), "test.cfg") {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				v, line, ok := ini.get(w.section, w.key)
				if ok == w.missing || v != w.value || line != w.line {
					t.Errorf("[%s] %s = %q (line %d, %v), want %q (line %d, missing %v)", w.section, w.key, v, line, ok, w.value, w.line, w.missing)
				}
			}
		})
	}
}

func TestConfigPathHelpers(t *testing.T) {
	for in, want := range map[string]string{
		"": ".", "/": "/", "//": "//", "///": "/", "//a//b/": "//a/b", "a/../..": "..", "/..": "/",
		"a/./b/": "a/b", "../a/../../b": "../../b",
	} {
		if got := cfgNormpath(in); got != want {
			t.Errorf("normpath(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"/x/a.cfg": ".cfg", "/x/.cfg": "", "/x/..cfg": "", "/x.d/a": "", "a.b.ini": ".ini", "/x/.a.cfg": ".cfg",
	} {
		if got := cfgSplitExt(in); got != want {
			t.Errorf("splitext(%q) = %q, want %q", in, got, want)
		}
	}
	env := &cfgEnv{lookup: cfgLookup(map[string]string{"A": "1", "B": "", "C": "$A"}), cwd: "/w", home: "/h/"}
	for in, want := range map[string]string{
		"$A/${B}x/$C/$D/${}/$": "/w/1/x/$A/$D/${}/$",
		"~":                    "/h",
		"~/k":                  "/h/k",
		"~nosuchuser_xyz/k":    "/w/~nosuchuser_xyz/k",
		"k/../j":               "/w/j",
		"$A":                   "/w/1",
	} {
		if got := env.unfrack(in, env.cwd); got != want {
			t.Errorf("unfrack(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]bool{"yes": true, " TRUE ": true, "t": true, "1": true, "y": true, "On": true, "no": false, "": false, "2": false, `"yes"`: false, "enabled": false} {
		if got := cfgBoolean(in); got != want {
			t.Errorf("boolean(%q) = %v", in, got)
		}
	}
	for in, want := range map[string]int{"10": 10, " +1_0 ": 10, "-3": -3, "007": 7} {
		if got, err := cfgPyInt(in); err != nil || got != want {
			t.Errorf("int(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "1__0", "_1", "1_", "+-1", "ten", "1.0", "0x10"} {
		if _, err := cfgPyInt(in); err == nil {
			t.Errorf("int(%q): no error", in)
		}
	}
}

func cfgLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func cfgWrite(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestConfigFindAndLoad(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	home, work, etc := filepath.Join(root, "home"), filepath.Join(root, "work"), filepath.Join(root, "etc", "ansible.cfg")
	for _, d := range []string{home, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"HOME": home}
	find := func() (string, []string) {
		t.Helper()
		p, w, err := FindConfig(cfgLookup(env), work, "", etc)
		if err != nil {
			t.Fatal(err)
		}
		return p, w
	}
	if p, w := find(); p != "" || w != nil {
		t.Fatalf("nothing: %q %q", p, w)
	}
	cfgWrite(t, etc, "[defaults]\n")
	cfgWrite(t, filepath.Join(home, ".ansible.cfg"), "[defaults]\n")
	if p, _ := find(); p != filepath.Join(home, ".ansible.cfg") {
		t.Fatalf("home: %q", p)
	}
	cfgWrite(t, filepath.Join(work, "ansible.cfg"), "[defaults]\n# c\ninventory = hosts, ../inv ,~/h\nremote_user = 'deploy'\n[privilege_escalation]\nbecome = Yes\n")
	if p, _ := find(); p != filepath.Join(work, "ansible.cfg") {
		t.Fatalf("cwd: %q", p)
	}
	if err := os.Chmod(work, 0o777); err != nil {
		t.Fatal(err)
	}
	if p, w := find(); p != filepath.Join(home, ".ansible.cfg") || len(w) != 1 || !strings.Contains(w[0], "world writable directory ("+work+")") {
		t.Fatalf("world-writable cwd: %q %q", p, w)
	}
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	env["ANSIBLE_CONFIG"] = filepath.Join(root, "missing.cfg")
	if p, w := find(); p != filepath.Join(work, "ansible.cfg") || len(w) != 1 || !strings.Contains(w[0], "missing.cfg") {
		t.Fatalf("missing ANSIBLE_CONFIG: %q %q", p, w)
	}
	delete(env, "ANSIBLE_CONFIG")

	env["ANSIBLE_TIMEOUT"] = ""
	env["ANSIBLE_BECOME_USER"] = "admin"
	c, err := LoadConfig(cfgLookup(env), work, "", etc)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(work, "hosts"), filepath.Join(root, "inv"), filepath.Join(home, "h")}; !reflect.DeepEqual(c.Inventory, want) {
		t.Errorf("inventory %q, want %q", c.Inventory, want)
	}
	cfgPath := filepath.Join(work, "ansible.cfg")
	for key, want := range map[string]string{
		"inventory": cfgPath + ":3", "remote_user": cfgPath + ":4", "become": cfgPath + ":6",
		"timeout": "default", "become_user": "ANSIBLE_BECOME_USER", "ssh_args": "default", "forks": "",
	} {
		if got := c.Origin(key); got != want {
			t.Errorf("origin of %s = %q, want %q", key, got, want)
		}
	}
	if c.RemoteUser != "deploy" || !c.Become || c.BecomeUser != "admin" || c.Timeout != 10 || !c.HostKeyChecking ||
		c.Gathering != "implicit" || c.BecomeMethod != "sudo" || c.PrivateKeyFile != "" ||
		c.SSHArgs != "-C -o ControlMaster=auto -o ControlPersist=60s" || c.SSHCommonArgs != "" || c.SSHExtraArgs != "" {
		t.Errorf("values: %+v", c)
	}
	if len(c.Settings) != len(cfgDefs) || !c.Settings[2].Unset || c.Settings[1].Unset {
		t.Errorf("settings: %+v", c.Settings)
	}

	// Errors name the file.
	bad := filepath.Join(root, "bad.cfg")
	cfgWrite(t, bad, "remote_user = x\n")
	env["ANSIBLE_CONFIG"] = bad
	if _, err := LoadConfig(cfgLookup(env), work, "", etc); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("unparsable ANSIBLE_CONFIG: %v", err)
	}
	env["ANSIBLE_CONFIG"] = filepath.Join(root, "x.conf")
	cfgWrite(t, env["ANSIBLE_CONFIG"], "[defaults]\n")
	if _, err := LoadConfig(cfgLookup(env), work, "", etc); err == nil || !strings.Contains(err.Error(), "x.conf") {
		t.Errorf("ANSIBLE_CONFIG with another extension: %v", err)
	}
	if os.Geteuid() != 0 {
		unreadable := filepath.Join(root, "unreadable.cfg")
		cfgWrite(t, unreadable, "[defaults]\n")
		if err := os.Chmod(unreadable, 0); err != nil {
			t.Fatal(err)
		}
		env["ANSIBLE_CONFIG"] = unreadable
		if _, err := LoadConfig(cfgLookup(env), work, "", etc); err == nil || !strings.Contains(err.Error(), unreadable) {
			t.Errorf("unreadable ANSIBLE_CONFIG: %v", err)
		}
	}
	delete(env, "ANSIBLE_CONFIG")
	env["ANSIBLE_TIMEOUT"] = "soon"
	if _, err := LoadConfig(cfgLookup(env), work, "", etc); err == nil || !strings.Contains(err.Error(), "ANSIBLE_TIMEOUT") {
		t.Errorf("bad ANSIBLE_TIMEOUT: %v", err)
	}
}

// cfgOracle asks ansible-core's own ConfigManager, for each case read from
// stdin, which file it reads and what the settings are. The only change to
// Ansible's code is the system path in find_ini_config_file, made a variable
// so that tests do not depend on /etc/ansible.
const cfgOracle = `
import ast, inspect, json, os, sys
import yaml
from ansible.config import manager
from ansible import context  # imported by get_config_value_and_origin; load it now

src = inspect.getsource(manager.find_ini_config_file)
assert src.count('"/etc/ansible/ansible.cfg"') == 1, "find_ini_config_file changed"
exec(src.replace('"/etc/ansible/ansible.cfg"', '_OPS_SYSTEM_PATH'), manager.__dict__)

base_yml = {}
orig_read = manager.ConfigManager._read_config_yaml_file
def cached_read(self, f):
    if f not in base_yml:
        base_yml[f] = orig_read(self, f)
    return base_yml[f]
manager.ConfigManager._read_config_yaml_file = cached_read

ssh_py = os.path.join(os.path.dirname(manager.__file__), '..', 'plugins', 'connection', 'ssh.py')
doc = None
for node in ast.parse(open(ssh_py).read()).body:
    if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == 'DOCUMENTATION' for t in node.targets):
        doc = node.value.value
ssh_opts = yaml.safe_load(doc)['options']

req = json.load(sys.stdin)
out = []
for c in req['cases']:
    os.chdir(c['cwd'])
    os.environ.clear()
    os.environ.update(c['env'])
    manager._OPS_SYSTEM_PATH = c['system']
    manager.ConfigManager.WARNINGS.clear()
    r = {'found': None, 'warnings': [], 'error': None, 'values': {}}
    try:
        w = set()
        r['found'] = manager.find_ini_config_file(w)
        r['warnings'] = sorted(w)
        cm = manager.ConfigManager()
        cm.initialize_plugin_configuration_definitions('connection', 'ssh', ssh_opts)
        for name in req['base']:
            v, o = cm.get_config_value_and_origin(name)
            r['values'][name] = {'value': v, 'origin': o}
        for name in req['ssh']:
            v, o = cm.get_config_value_and_origin(name, plugin_type='connection', plugin_name='ssh')
            r['values'][name] = {'value': v, 'origin': o}
    except Exception as e:
        r['error'] = '%s: %s' % (type(e).__name__, e)
    out.append(r)
json.dump(out, sys.stdout)
`

// cfgCase is one differential case. Paths in files are relative to the case's
// directory, which holds home/ (HOME), work/ (the working directory),
// etc/ansible.cfg (the system path) and anything else; "@ROOT@" in env
// values is that directory.
type cfgCase struct {
	name          string
	files         map[string]string
	env           map[string]string
	worldWritable bool
}

func cfgCases() []cfgCase {
	const full = "[defaults]\ninventory = file_inv\nremote_user = fileuser\nprivate_key_file = file_key\ntimeout = 33\nhost_key_checking = no\ngathering = explicit\n" +
		"[privilege_escalation]\nbecome = yes\nbecome_method = su\nbecome_user = fileroot\n" +
		"[ssh_connection]\nssh_args = -o A=file\nssh_common_args = -o B=file\nssh_extra_args = -o C=file\n"
	cases := []cfgCase{
		{name: "nothing"},
		{name: "system only", files: map[string]string{"etc/ansible.cfg": "[defaults]\nremote_user = sys\n"}},
		{name: "home over system", files: map[string]string{"etc/ansible.cfg": "[defaults]\nremote_user = sys\n", "home/.ansible.cfg": "[defaults]\nremote_user = home\n"}},
		{name: "cwd over home", files: map[string]string{"etc/ansible.cfg": "[defaults]\n", "home/.ansible.cfg": "[defaults]\n", "work/ansible.cfg": full}},
		{name: "world-writable cwd skipped", worldWritable: true, files: map[string]string{"home/.ansible.cfg": "[defaults]\nremote_user = home\n", "work/ansible.cfg": full}},
		{name: "world-writable cwd only", worldWritable: true, files: map[string]string{"work/ansible.cfg": full}},
		{name: "world-writable cwd without file", worldWritable: true, files: map[string]string{"home/.ansible.cfg": "[defaults]\n"}},
		{name: "ANSIBLE_CONFIG file", files: map[string]string{"other/x.cfg": full, "work/ansible.cfg": "[defaults]\n"}, env: map[string]string{"ANSIBLE_CONFIG": "@ROOT@/other/x.cfg"}},
		{name: "ANSIBLE_CONFIG dir", files: map[string]string{"other/ansible.cfg": full, "work/ansible.cfg": "[defaults]\n"}, env: map[string]string{"ANSIBLE_CONFIG": "@ROOT@/other"}},
		{name: "ANSIBLE_CONFIG dir without ansible.cfg", files: map[string]string{"other/x.cfg": "[defaults]\n", "work/ansible.cfg": full}, env: map[string]string{"ANSIBLE_CONFIG": "@ROOT@/other/"}},
		{name: "ANSIBLE_CONFIG missing", files: map[string]string{"home/.ansible.cfg": full}, env: map[string]string{"ANSIBLE_CONFIG": "@ROOT@/nope.cfg"}},
		{name: "ANSIBLE_CONFIG relative", files: map[string]string{"work/conf/a.cfg": full, "work/ansible.cfg": "[defaults]\n"}, env: map[string]string{"ANSIBLE_CONFIG": "conf/../conf/a.cfg"}},
		{name: "ANSIBLE_CONFIG tilde", files: map[string]string{"home/cfgs/a.cfg": full}, env: map[string]string{"ANSIBLE_CONFIG": "~/cfgs/a.cfg"}},
		{name: "ANSIBLE_CONFIG variables", files: map[string]string{"other/a.cfg": full}, env: map[string]string{"CFGDIR": "@ROOT@/other", "ANSIBLE_CONFIG": "${CFGDIR}/a.cfg"}},
		{name: "ANSIBLE_CONFIG names the world-writable cwd's file", worldWritable: true, files: map[string]string{"work/ansible.cfg": full}, env: map[string]string{"ANSIBLE_CONFIG": "@ROOT@/work/ansible.cfg"}},
		{name: "ANSIBLE_CONFIG missing, world-writable cwd", worldWritable: true, files: map[string]string{"work/ansible.cfg": full}, env: map[string]string{"ANSIBLE_CONFIG": "@ROOT@/nope.cfg"}},
		{name: "ANSIBLE_CONFIG empty", files: map[string]string{"work/ansible.cfg": full, "home/.ansible.cfg": "[defaults]\n"}, env: map[string]string{"ANSIBLE_CONFIG": ""}},
		{name: "ANSIBLE_CONFIG empty, world-writable cwd", worldWritable: true, files: map[string]string{"work/ansible.cfg": full}, env: map[string]string{"ANSIBLE_CONFIG": ""}},
		{name: "ANSIBLE_CONFIG with another extension", files: map[string]string{"other/a.conf": full}, env: map[string]string{"ANSIBLE_CONFIG": "@ROOT@/other/a.conf"}},
		{name: "ANSIBLE_CONFIG yaml", files: map[string]string{"other/a.yml": "defaults: {}\n"}, env: map[string]string{"ANSIBLE_CONFIG": "@ROOT@/other/a.yml"}},
		{name: "relative paths", files: map[string]string{"other/ansible.cfg": "[defaults]\ninventory = hosts, ../inv/x ,~/inv, $INVDIR/y, /abs/./z, {{CWD}}/c, //two, ~root/r\nprivate_key_file = keys/../keys/id\n"},
			env: map[string]string{"ANSIBLE_CONFIG": "@ROOT@/other", "INVDIR": "@ROOT@/vars"}},
		{name: "inventory trailing comma", files: map[string]string{"work/ansible.cfg": "[defaults]\ninventory = localhost,\n"}},
		{name: "quotes are kept in paths and bools", files: map[string]string{"work/ansible.cfg": "[defaults]\ninventory = \"hosts\"\nprivate_key_file = 'k'\nremote_user = \"bob\"\nhost_key_checking = 'yes'\n" +
			"[privilege_escalation]\nbecome = \"yes\"\nbecome_user = \"x\n[ssh_connection]\nssh_args = '-o A=1'\nssh_common_args = \"a\\\"\n"}},
		{name: "env paths are relative to cwd", files: map[string]string{"other/ansible.cfg": full}, env: map[string]string{"ANSIBLE_CONFIG": "@ROOT@/other/ansible.cfg", "ANSIBLE_INVENTORY": "inv/a, b,/c", "ANSIBLE_PRIVATE_KEY_FILE": "~/k"}},
		{name: "env over file", files: map[string]string{"work/ansible.cfg": full}, env: map[string]string{
			"ANSIBLE_INVENTORY": "envinv", "ANSIBLE_REMOTE_USER": "'envuser'", "ANSIBLE_PRIVATE_KEY_FILE": "/k", "ANSIBLE_TIMEOUT": " 20 ", "ANSIBLE_HOST_KEY_CHECKING": "True",
			"ANSIBLE_GATHERING": "smart", "ANSIBLE_BECOME": "off", "ANSIBLE_BECOME_METHOD": "doas", "ANSIBLE_BECOME_USER": "envroot",
			"ANSIBLE_SSH_ARGS": "-o A=env", "ANSIBLE_SSH_COMMON_ARGS": "-o B=env", "ANSIBLE_SSH_EXTRA_ARGS": "-o C=env"}},
		{name: "empty env", files: map[string]string{"work/ansible.cfg": full}, env: map[string]string{
			"ANSIBLE_INVENTORY": "", "ANSIBLE_REMOTE_USER": "", "ANSIBLE_PRIVATE_KEY_FILE": "", "ANSIBLE_TIMEOUT": "", "ANSIBLE_HOST_KEY_CHECKING": "",
			"ANSIBLE_BECOME": "", "ANSIBLE_BECOME_METHOD": "", "ANSIBLE_BECOME_USER": "", "ANSIBLE_SSH_ARGS": "", "ANSIBLE_SSH_COMMON_ARGS": ""}},
		{name: "empty ANSIBLE_GATHERING", env: map[string]string{"ANSIBLE_GATHERING": ""}},
		{name: "DEFAULT section", files: map[string]string{"work/ansible.cfg": "[DEFAULT]\nremote_user = d\nbecome_user = du\ntimeout = 5\n[defaults]\ntimeout = 7\n"}},
		{name: "DEFAULT with the section", files: map[string]string{"work/ansible.cfg": "[privilege_escalation]\n[DEFAULT]\nbecome_user = du\nbecome = 1\nssh_args = -o D=1\n"}},
		{name: "continuation lines", files: map[string]string{"work/ansible.cfg": "[ssh_connection]\nssh_args = -C\n  -o ControlMaster=auto\n\n  -o ControlPersist=30m\n# comment\n  -o X=1\n[defaults]\ninventory = a,\n    b,\n\n    c\n   \nremote_user = u\n"}},
		{name: "comments", files: map[string]string{"work/ansible.cfg": "# top\n[defaults] ; c\nremote_user = bob ; comment\nprivate_key_file = k # not a comment\n[privilege_escalation]\nbecome_user = x;y\n  ; indented comment\n# full\n;full\nbecome_method = su\t; tab\n[ssh_connection]\nssh_args=-o A=1;-o B=2\nssh_extra_args = \t;all comment\n"}},
		{name: "hash is not an inline comment", files: map[string]string{"work/ansible.cfg": "[defaults]\ngathering = smart # fast\n"}},
		{name: "colons and case", files: map[string]string{"work/ansible.cfg": "[defaults]\nREMOTE_USER: alice\nTimeout : 30\nHost_Key_Checking=No\n[Privilege_Escalation]\nbecome = yes\n[ssh_connection]\nssh_args: -o A=B:C\n"}},
		{name: "duplicate option", files: map[string]string{"work/ansible.cfg": "[defaults]\nremote_user=a\nREMOTE_USER=b\n"}},
		{name: "duplicate section", files: map[string]string{"work/ansible.cfg": "[defaults]\nremote_user=a\n[ssh_connection]\n[defaults]\n"}},
		{name: "no section header", files: map[string]string{"work/ansible.cfg": "remote_user = a\n[defaults]\n"}},
		{name: "line without delimiter", files: map[string]string{"work/ansible.cfg": "[defaults]\njunk\n"}},
		{name: "bad timeout", files: map[string]string{"work/ansible.cfg": "[defaults]\ntimeout = ten\n"}},
		{name: "odd timeout", files: map[string]string{"work/ansible.cfg": "[defaults]\ntimeout = +1_0\n"}},
		{name: "bom", files: map[string]string{"work/ansible.cfg": "\ufeff[defaults]\nremote_user = a\n"}},
		{name: "crlf", files: map[string]string{"work/ansible.cfg": "[defaults]\r\nremote_user = a\r\ninventory = h1,h2\r\n[privilege_escalation]\r\nbecome = true\r\n"}},
		{name: "section header oddities", files: map[string]string{"work/ansible.cfg": "[ defaults ]\nremote_user = a\n[defaults] trailing\nbecome_user = x\ntimeout = 3\n"}},
		{name: "percent signs", files: map[string]string{"work/ansible.cfg": "[ssh_connection]\nssh_args = -o ControlPath=%(directory)s/%%h\n"}},
		{name: "found file is a directory", files: map[string]string{"home/.ansible.cfg/x": ""}},
		{name: "empty values", files: map[string]string{"work/ansible.cfg": "[defaults]\ninventory =\nremote_user =\nprivate_key_file =\nhost_key_checking =\n[ssh_connection]\nssh_args =\n"}},
	}
	// Booleans in various spellings, in the file and in the environment.
	spellings := []string{"yes", "Yes", "YES", "no", "No", "true", "True", "false", "FALSE", "on", "Off", "1", "0", "y", "n", "t", "f", " yes ", `"yes"`, "enabled", "", "2"}
	for i := 0; i*3 < len(spellings); i++ {
		at := func(j int) string { return spellings[(3*i+j)%len(spellings)] }
		c := cfgCase{
			name:  fmt.Sprintf("booleans %d", i),
			files: map[string]string{"work/ansible.cfg": fmt.Sprintf("[defaults]\nhost_key_checking = %s\n[privilege_escalation]\nbecome = %s\n", at(0), at(1))},
			env:   map[string]string{},
		}
		if i%2 == 0 {
			c.env["ANSIBLE_HOST_KEY_CHECKING"] = at(2)
		} else {
			c.env["ANSIBLE_BECOME"] = at(2)
		}
		cases = append(cases, c)
	}
	return cases
}

func TestConfigMatchesAnsible(t *testing.T) {
	const python = "/usr/bin/python3"
	if _, err := os.Stat("/usr/bin/ansible"); err != nil {
		t.Skip("ansible-core is not installed (/usr/bin/ansible)")
	}
	if err := exec.Command(python, "-c", "import ansible.config.manager, yaml").Run(); err != nil {
		t.Skipf("ansible's Python (%s) cannot import ansible: %v", python, err)
	}
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	type pyCase struct {
		Cwd    string            `json:"cwd"`
		Env    map[string]string `json:"env"`
		System string            `json:"system"`
	}
	cases := cfgCases()
	var req struct {
		Base  []string `json:"base"`
		SSH   []string `json:"ssh"`
		Cases []pyCase `json:"cases"`
	}
	for _, d := range cfgDefs {
		if strings.HasPrefix(d.name, "ssh_") {
			req.SSH = append(req.SSH, d.name)
		} else {
			req.Base = append(req.Base, d.name)
		}
	}
	for i, c := range cases {
		dir := filepath.Join(root, fmt.Sprint(i))
		for _, d := range []string{"home", "work", "other", "etc"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for p, text := range c.files {
			cfgWrite(t, filepath.Join(dir, p), text)
		}
		if c.worldWritable {
			if err := os.Chmod(filepath.Join(dir, "work"), 0o777); err != nil {
				t.Fatal(err)
			}
		}
		env := map[string]string{"HOME": filepath.Join(dir, "home")}
		for k, v := range c.env {
			env[k] = strings.ReplaceAll(v, "@ROOT@", dir)
		}
		req.Cases = append(req.Cases, pyCase{Cwd: filepath.Join(dir, "work"), Env: env, System: filepath.Join(dir, "etc", "ansible.cfg")})
	}
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", cfgOracle)
	cmd.Dir = root
	cmd.Env = []string{"HOME=" + root, "PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8"}
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ansible oracle: %v\n%s", err, stderr.String())
	}
	var got []struct {
		Found    *string  `json:"found"`
		Warnings []string `json:"warnings"`
		Error    *string  `json:"error"`
		Values   map[string]struct {
			Value  any    `json:"value"`
			Origin string `json:"origin"`
		} `json:"values"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("ansible oracle output: %v\n%s", err, out)
	}
	if len(got) != len(cases) {
		t.Fatalf("ansible oracle answered %d cases of %d", len(got), len(cases))
	}
	for i, c := range cases {
		py, pc := got[i], req.Cases[i]
		t.Run(c.name, func(t *testing.T) {
			lookup := cfgLookup(pc.Env)
			path, warnings, err := FindConfig(lookup, pc.Cwd, "", pc.System)
			if err != nil {
				t.Fatalf("FindConfig: %v", err)
			}
			wantPath := ""
			if py.Found != nil {
				wantPath = *py.Found
			}
			if path != wantPath {
				t.Errorf("found %q, ansible %q", path, wantPath)
			}
			var ansibleWarnings []string
			for _, w := range warnings {
				if !strings.HasPrefix(w, "ANSIBLE_CONFIG names") { // ops' own
					ansibleWarnings = append(ansibleWarnings, w)
				}
			}
			if !reflect.DeepEqual(ansibleWarnings, py.Warnings) && (len(ansibleWarnings) > 0 || len(py.Warnings) > 0) {
				t.Errorf("warnings %q, ansible %q", ansibleWarnings, py.Warnings)
			}
			cfg, err := LoadConfig(lookup, pc.Cwd, "", pc.System)
			if py.Error != nil || err != nil {
				if py.Error == nil || err == nil {
					t.Fatalf("error %v, ansible %v", err, cfgDeref(py.Error))
				}
				t.Logf("both fail: ops %v; ansible %s", err, *py.Error)
				return
			}
			for _, s := range cfg.Settings {
				want, ok := py.Values[s.Name]
				if !ok {
					t.Errorf("ansible did not answer %s", s.Name)
					continue
				}
				if v := cfgJSONValue(t, cfg, s); !reflect.DeepEqual(v, want.Value) {
					t.Errorf("%s = %#v, ansible %#v", s.Name, v, want.Value)
				}
				origin := s.Origin
				switch {
				case origin == s.Env:
					origin = "env: " + origin
				case cfg.Path != "" && strings.HasPrefix(origin, cfg.Path+":"):
					origin = cfg.Path
				}
				if origin != want.Origin {
					t.Errorf("%s from %q, ansible %q", s.Name, s.Origin, want.Origin)
				}
			}
		})
	}
}

func cfgDeref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// cfgJSONValue is setting s of c as Ansible's value comes out of json.
func cfgJSONValue(t *testing.T, c *ConfigFile, s ConfigSetting) any {
	if s.Unset {
		return nil
	}
	var v any
	switch s.Key {
	case "inventory":
		v = c.Inventory
	case "remote_user":
		v = c.RemoteUser
	case "private_key_file":
		v = c.PrivateKeyFile
	case "timeout":
		v = c.Timeout
	case "host_key_checking":
		v = c.HostKeyChecking
	case "gathering":
		v = c.Gathering
	case "become":
		v = c.Become
	case "become_method":
		v = c.BecomeMethod
	case "become_user":
		v = c.BecomeUser
	case "ssh_args":
		v = c.SSHArgs
	case "ssh_common_args":
		v = c.SSHCommonArgs
	case "ssh_extra_args":
		v = c.SSHExtraArgs
	default:
		t.Fatalf("no field for %s", s.Key)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
