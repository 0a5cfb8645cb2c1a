package ansible

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The differential test: generated repositories (INI, YAML, directory,
// script and host-list sources, nested children, group_vars/ and
// host_vars/ files and directories beside the inventory and the playbook
// directory, ansible_group_priority, INI value typing, extra vars,
// templates) loaded by this package and by ansible-core's own
// InventoryManager + VariableManager, in one Python process. Compared:
// `ansible-inventory --list` text (built by InventoryCLI.json_inventory
// and dump), `--graph` text, and every variable of every host templated by
// Ansible's Templar.

const inventoryOracle = `
import json, sys
from ansible import context
from ansible.module_utils.common.collections import ImmutableDict
from ansible.parsing.dataloader import DataLoader
from ansible.inventory.manager import InventoryManager
from ansible.vars.manager import VariableManager
from ansible.template import Templar
from ansible.cli.inventory import InventoryCLI
from ansible.parsing.ajson import AnsibleJSONEncoder
from ansible.utils.display import Display
Display().verbosity = 0
repos = json.load(sys.stdin)
out = []
for r in repos:
    context.CLIARGS = ImmutableDict(extra_vars=tuple(r["extra_vars"]), export=False, basedir=None,
                                    show_vars=False, pattern='all', yaml=False, toml=False)
    loader = DataLoader()
    loader.set_basedir(r["basedir"])
    try:
        inv = InventoryManager(loader=loader, sources=r["sources"])
        vm = VariableManager(loader=loader, inventory=inv)
        memo, get_vars = {}, vm.get_vars
        def cached(host=None, include_hostvars=True, stage='task', **kw):
            # json_inventory and the templating below ask the same question
            if host.name not in memo:
                memo[host.name] = get_vars(host=host, include_hostvars=False, stage=stage)
            return dict(memo[host.name])
        vm.get_vars = cached
        cli = InventoryCLI.__new__(InventoryCLI)
        cli.loader, cli.inventory, cli.vm = loader, inv, vm
        listed = cli.dump(cli.json_inventory(inv.groups['all']))
        graph = cli.inventory_graph()
        templated = {}
        t = Templar(loader=loader)
        for h in inv.get_hosts()[:3]:
            allv = vm.get_vars(host=h, include_hostvars=False)
            t.available_variables = allv
            res = {}
            for k in r["keys"]:
                if k not in allv:
                    continue
                try:
                    res[k] = {"v": t.template(allv[k])}
                except Exception as e:
                    res[k] = {"e": str(e)}
            templated[h.name] = res
        out.append({"list": listed, "graph": graph, "templated": templated})
    except Exception as e:
        out.append({"error": "%s: %s" % (type(e).__name__, e)})
json.dump(out, sys.stdout, cls=AnsibleJSONEncoder)
`

type genRepo struct {
	Root      string   `json:"-"`
	Sources   []string `json:"sources"`
	Basedir   string   `json:"basedir"`
	ExtraVars []string `json:"extra_vars"`
	Keys      []string `json:"keys"`
	files     map[string]string
}

var varKeys = []string{"x", "y", "env", "flag", "lst", "msg", "ref", "shared", "ansible_user", "ansible_port", "ansible_host", "num"}

type gen struct {
	r *rand.Rand
}

func (g gen) pick(list ...string) string { return list[g.r.Intn(len(list))] }
func (g gen) chance(p float64) bool      { return g.r.Float64() < p }

// iniHostValue is a host-line value token (shlex-quoted where needed).
func (g gen) iniHostValue() string {
	return g.pick(`1`, `-3`, `1.5`, `True`, `False`, `None`, `"'quoted str'"`, `"2"`, `[1,2]`, `{'k':1}`, `yes`,
		`0x10`, `1e3`, `01`, `hello`, `(1,2)`, `"[1, 'a']"`, `'a b'`, `"{{ x }}-{{ inventory_hostname }}"`,
		`"{{ inventory_hostname_short }}"`, `1_000`, `0o17`, `"u'x' 'y'"`, `.5`, `"{{ y | default('none') }}"`)
}

// iniGroupValue is a [g:vars] value (the rest of the line).
func (g gen) iniGroupValue() string {
	return g.pick(`1`, `True`, `hello world`, `[1, 2]`, `'quoted'`, `x # not a comment`, `{"a": 1}`, `1.0`, `yes`,
		`007`, `"two words"`, `{{ x }}-{{ inventory_hostname }}`, `None`, `-2`, `pre-{{ env }}`, `{{ group_names | length }}`)
}

// yamlValueText is a YAML scalar or flow value.
func (g gen) yamlValueText() string {
	return g.pick(`1`, `"1"`, `yes`, `no`, `1.5`, `[1, a]`, `{k: v}`, `hello`, `null`, `0755`, `1_000`, `'x: y'`, `1e3`,
		`~`, `on`, `"{{ x }}-{{ inventory_hostname }}"`, `"{{ groups['all'] | length }}"`, `"pre-{{ env }}"`,
		`"{{ inventory_hostname_short | upper }}"`, `2.0`, `-7`, `True`, `"{{ y }}"`)
}

func (g gen) jsonValueText() string {
	return g.pick(`1`, `"1"`, `true`, `1.5`, `[1, "a"]`, `{"k": "v"}`, `"hello"`, `null`, `1e3`, `"{{ x }}-{{ inventory_hostname }}"`, `2.0`)
}

func (g gen) varsYAML(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s: %s\n", g.pick(varKeys...), g.yamlValueText())
	}
	return b.String()
}

func (g gen) varsJSON(n int) string {
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, fmt.Sprintf("%q: %s", g.pick(varKeys...), g.jsonValueText()))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// varsFiles writes NAME's variables under dir (group_vars or host_vars) in
// one of the forms the vars plugin reads.
func (g gen) varsFiles(files map[string]string, dir, name string) {
	switch g.r.Intn(6) {
	case 0:
		files[filepath.Join(dir, name)] = g.varsYAML(1 + g.r.Intn(3))
	case 1:
		files[filepath.Join(dir, name+".yml")] = g.varsYAML(1 + g.r.Intn(3))
	case 2:
		files[filepath.Join(dir, name+".yaml")] = g.varsYAML(1 + g.r.Intn(3))
	case 3:
		files[filepath.Join(dir, name+".json")] = g.varsJSON(1 + g.r.Intn(3))
	case 4:
		// NAME wins over NAME.yml: only the first found is read.
		files[filepath.Join(dir, name)] = g.varsYAML(2)
		files[filepath.Join(dir, name+".yml")] = g.varsYAML(2)
	default:
		d := filepath.Join(dir, name)
		files[filepath.Join(d, "b.yml")] = g.varsYAML(2)
		files[filepath.Join(d, "a.yaml")] = g.varsYAML(2)
		files[filepath.Join(d, "sub", "c.json")] = g.varsJSON(2)
		files[filepath.Join(d, "z")] = g.varsYAML(1)
		files[filepath.Join(d, "ignored.txt")] = "x: ignored\n"
		files[filepath.Join(d, ".hidden.yml")] = "x: hidden\n"
		files[filepath.Join(d, "backup.yml~")] = "x: backup\n"
	}
}

type genInv struct {
	groups   []string
	parents  map[string][]string
	children map[string][]string
	hosts    []string
	members  map[string][]string // group → hosts
}

func (g gen) structure(prefix string) genInv {
	pool := []string{"web", "db", "app", "prod", "staging", "eu", "us", "cache", "lb", "monitoring", "blue", "green"}
	g.r.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	s := genInv{parents: map[string][]string{}, children: map[string][]string{}, members: map[string][]string{}}
	for _, name := range pool[:3+g.r.Intn(5)] {
		s.groups = append(s.groups, prefix+name)
	}
	for i := 1; i < len(s.groups); i++ {
		if g.chance(0.55) {
			for k := 0; k < 1+g.r.Intn(2); k++ {
				p := s.groups[g.r.Intn(i)]
				c := s.groups[i]
				if !contains(s.children[p], c) {
					s.children[p] = append(s.children[p], c)
					s.parents[c] = append(s.parents[c], p)
				}
			}
		}
	}
	nh := 3 + g.r.Intn(6)
	seen := map[string]bool{}
	for len(s.hosts) < nh {
		var h string
		switch g.r.Intn(5) {
		case 0:
			h = fmt.Sprintf("web%02d.example.com", g.r.Intn(20))
		case 1:
			h = fmt.Sprintf("db%d", g.r.Intn(20))
		case 2:
			h = fmt.Sprintf("10.1.0.%d", g.r.Intn(250))
		case 3:
			h = fmt.Sprintf("node-%d", g.r.Intn(20))
		default:
			h = fmt.Sprintf("app%d.prod.local", g.r.Intn(20))
		}
		if !seen[h] {
			seen[h] = true
			s.hosts = append(s.hosts, h)
		}
	}
	for _, h := range s.hosts {
		if g.chance(0.15) {
			continue // ungrouped
		}
		for k := 0; k < 1+g.r.Intn(2); k++ {
			grp := s.groups[g.r.Intn(len(s.groups))]
			if !contains(s.members[grp], h) {
				s.members[grp] = append(s.members[grp], h)
			}
		}
	}
	return s
}

func (g gen) ini(s genInv) string {
	var b strings.Builder
	hostLine := func(h string) string {
		line := h
		if g.chance(0.15) && !strings.HasPrefix(h, "10.") {
			line += fmt.Sprintf(":%d", 2200+g.r.Intn(50))
		}
		for i := 0; i < g.r.Intn(4); i++ {
			line += fmt.Sprintf(" %s=%s", g.pick(varKeys...), g.iniHostValue())
		}
		if g.chance(0.1) {
			line += " # a comment"
		}
		return line
	}
	grouped := map[string]bool{}
	for _, hs := range s.members {
		for _, h := range hs {
			grouped[h] = true
		}
	}
	for _, h := range s.hosts {
		if !grouped[h] {
			fmt.Fprintln(&b, hostLine(h))
		}
	}
	// Children sections sometimes come before their groups (pending).
	early := g.chance(0.4)
	if early {
		for _, p := range s.groups {
			if len(s.children[p]) > 0 {
				fmt.Fprintf(&b, "[%s:children]\n%s\n", p, strings.Join(s.children[p], "\n"))
			}
		}
	}
	for _, grp := range s.groups {
		fmt.Fprintf(&b, "\n[%s]\n", grp)
		for _, h := range s.members[grp] {
			fmt.Fprintln(&b, hostLine(h))
		}
		if grp == s.groups[0] && g.chance(0.3) {
			fmt.Fprintln(&b, "node[1:3] num=3")
		}
		if g.chance(0.6) {
			fmt.Fprintf(&b, "[%s:vars]\n", grp)
			for i := 0; i < 1+g.r.Intn(3); i++ {
				fmt.Fprintf(&b, "%s%s=%s\n", g.pick(varKeys...), g.pick("", " "), g.iniGroupValue())
			}
			if g.chance(0.4) {
				fmt.Fprintf(&b, "ansible_group_priority=%d\n", 1+g.r.Intn(5))
			}
		}
		if !early && len(s.children[grp]) > 0 {
			fmt.Fprintf(&b, "[%s:children]\n%s\n", grp, strings.Join(s.children[grp], "\n"))
		}
	}
	if g.chance(0.3) {
		fmt.Fprintf(&b, "\n[all:vars]\nshared=%s\n", g.iniGroupValue())
	}
	return b.String()
}

func (g gen) yamlInv(s genInv) string {
	var b strings.Builder
	written := map[string]bool{}
	hostEntry := func(indent, h string) {
		name := h
		if g.chance(0.1) && !strings.HasPrefix(h, "10.") {
			name += fmt.Sprintf(":%d", 2200+g.r.Intn(50))
		}
		if g.chance(0.5) {
			fmt.Fprintf(&b, "%s%s:\n", indent, name)
			return
		}
		fmt.Fprintf(&b, "%s%s:\n", indent, name)
		for i := 0; i < 1+g.r.Intn(3); i++ {
			fmt.Fprintf(&b, "%s  %s: %s\n", indent, g.pick(varKeys...), g.yamlValueText())
		}
	}
	var group func(indent, name string)
	group = func(indent, name string) {
		fmt.Fprintf(&b, "%s%s:\n", indent, name)
		if written[name] {
			return
		}
		written[name] = true
		if len(s.members[name]) > 0 {
			fmt.Fprintf(&b, "%s  hosts:\n", indent)
			for _, h := range s.members[name] {
				hostEntry(indent+"    ", h)
			}
		}
		if g.chance(0.6) {
			fmt.Fprintf(&b, "%s  vars:\n", indent)
			for i := 0; i < 1+g.r.Intn(3); i++ {
				fmt.Fprintf(&b, "%s    %s: %s\n", indent, g.pick(varKeys...), g.yamlValueText())
			}
			if g.chance(0.4) {
				fmt.Fprintf(&b, "%s    ansible_group_priority: %d\n", indent, 1+g.r.Intn(5))
			}
		}
		if len(s.children[name]) > 0 {
			fmt.Fprintf(&b, "%s  children:\n", indent)
			for _, c := range s.children[name] {
				group(indent+"    ", c)
			}
		}
	}
	b.WriteString("all:\n")
	grouped := map[string]bool{}
	for _, hs := range s.members {
		for _, h := range hs {
			grouped[h] = true
		}
	}
	var loose []string
	for _, h := range s.hosts {
		if !grouped[h] {
			loose = append(loose, h)
		}
	}
	if len(loose) > 0 {
		b.WriteString("  hosts:\n")
		for _, h := range loose {
			hostEntry("    ", h)
		}
	}
	if g.chance(0.4) {
		b.WriteString("  vars:\n")
		fmt.Fprintf(&b, "    shared: %s\n", g.yamlValueText())
	}
	b.WriteString("  children:\n")
	for _, grp := range s.groups {
		if len(s.parents[grp]) == 0 {
			group("    ", grp)
		}
	}
	return b.String()
}

// script writes a dynamic inventory (a shell script printing JSON), with
// or without _meta (then --host answers).
func (g gen) script(s genInv) string {
	list := map[string]any{}
	for _, grp := range s.groups {
		e := map[string]any{}
		if hs := s.members[grp]; len(hs) > 0 {
			e["hosts"] = hs
		}
		if cs := s.children[grp]; len(cs) > 0 {
			e["children"] = cs
		}
		if g.chance(0.5) {
			e["vars"] = map[string]any{g.pick(varKeys...): g.pick("a", "{{ x }}-{{ inventory_hostname }}"), "ansible_group_priority": 1 + g.r.Intn(4)}
		}
		list[grp] = e
	}
	hostvars := map[string]any{}
	for _, h := range s.hosts {
		hostvars[h] = map[string]any{g.pick(varKeys...): g.r.Intn(9), "ansible_host": "192.0.2.1"}
	}
	withMeta := g.chance(0.5)
	if withMeta {
		list["_meta"] = map[string]any{"hostvars": hostvars}
	}
	lb, _ := json.Marshal(list)
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/sh\nif [ \"$1\" = --list ]; then\ncat <<'EOF'\n%s\nEOF\nexit 0\nfi\ncase \"$2\" in\n", lb)
	if !withMeta {
		for h, v := range hostvars {
			hb, _ := json.Marshal(v)
			fmt.Fprintf(&b, "%s) echo '%s';;\n", h, hb)
		}
	}
	b.WriteString("esac\n")
	return b.String()
}

func generateRepo(r *rand.Rand, root string, i int) *genRepo {
	g := gen{r}
	repo := &genRepo{Root: root, Basedir: filepath.Join(root, "play"), Keys: varKeys, files: map[string]string{}}
	s := g.structure("")
	invDir := filepath.Join(root, "inventory")
	repo.files[filepath.Join(repo.Basedir, "site.yml")] = "- hosts: all\n"
	switch i % 5 {
	case 0, 3: // one INI file (no extension)
		repo.files[filepath.Join(invDir, "hosts")] = g.ini(s)
		repo.Sources = []string{filepath.Join(invDir, "hosts")}
	case 1: // one YAML file
		repo.files[filepath.Join(invDir, "hosts.yml")] = g.yamlInv(s)
		repo.Sources = []string{filepath.Join(invDir, "hosts.yml")}
	case 2: // a directory: INI and YAML, and files Ansible ignores
		repo.files[filepath.Join(invDir, "01-main")] = g.ini(s)
		s2 := g.structure("x")
		repo.files[filepath.Join(invDir, "02-more.yaml")] = g.yamlInv(s2)
		repo.files[filepath.Join(invDir, "notes.txt")] = "[ignored]\nnot-a-host\n"
		repo.files[filepath.Join(invDir, "old.ini")] = "[ignored]\nignored-host\n"
		repo.files[filepath.Join(invDir, "hosts~")] = "[ignored]\nbackup-host\n"
		repo.files[filepath.Join(invDir, ".hidden")] = "[ignored]\nhidden-host\n"
		repo.Sources = []string{invDir}
	case 4: // a script, or YAML plus a host list
		if g.chance(0.4) {
			repo.files[filepath.Join(invDir, "inv.sh")] = g.script(s)
			repo.Sources = []string{filepath.Join(invDir, "inv.sh")}
		} else {
			repo.files[filepath.Join(invDir, "hosts.yaml")] = g.yamlInv(s)
			repo.Sources = []string{filepath.Join(invDir, "hosts.yaml"), g.pick("10.9.0.1:2222,[::1]:22,hl1,", "hl2, hl3:2200 ,", "fe80::1,")}
		}
	}
	names := append([]string{"all"}, s.groups...)
	for _, name := range names {
		if g.chance(0.45) {
			g.varsFiles(repo.files, filepath.Join(invDir, "group_vars"), name)
		}
		if g.chance(0.3) {
			g.varsFiles(repo.files, filepath.Join(repo.Basedir, "group_vars"), name)
		}
		if g.chance(0.1) {
			repo.files[filepath.Join(invDir, "group_vars", name+".yml")] = fmt.Sprintf("ansible_group_priority: %d\nx: gvprio\n", 1+g.r.Intn(9))
		}
	}
	for _, h := range s.hosts {
		if g.chance(0.3) {
			g.varsFiles(repo.files, filepath.Join(invDir, "host_vars"), h)
		}
		if g.chance(0.15) {
			g.varsFiles(repo.files, filepath.Join(repo.Basedir, "host_vars"), h)
		}
	}
	if g.chance(0.3) {
		repo.ExtraVars = append(repo.ExtraVars, g.pick(`x=ev y='q v'`, `env=prod`, `msg={{ x }}!`))
	}
	if g.chance(0.2) {
		repo.ExtraVars = append(repo.ExtraVars, `{"shared": [1, 2], "flag": true}`)
	}
	if g.chance(0.1) {
		ev := filepath.Join(root, "ev.yml")
		repo.files[ev] = "num: 42\nref: \"{{ num }}-{{ inventory_hostname }}\"\n"
		repo.ExtraVars = append(repo.ExtraVars, "@"+ev)
	}
	if repo.ExtraVars == nil {
		repo.ExtraVars = []string{}
	}
	return repo
}

func (repo *genRepo) write(t *testing.T) {
	for p, content := range repo.files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

func (repo *genRepo) dump() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sources %q basedir %s extra vars %q\n", repo.Sources, repo.Basedir, repo.ExtraVars)
	var paths []string
	for p := range repo.files {
		paths = append(paths, p)
	}
	sortStrings(paths)
	for _, p := range paths {
		fmt.Fprintf(&b, "--- %s\n%s\n", strings.TrimPrefix(p, repo.Root+"/"), repo.files[p])
	}
	return b.String()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// ansiblePython is the interpreter in ansible's shebang, or "".
func ansiblePython() string {
	ans, err := exec.LookPath("ansible")
	if err != nil {
		return ""
	}
	head, err := os.ReadFile(ans)
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(head), "\n")
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if len(fields) == 0 {
		return ""
	}
	py := fields[len(fields)-1]
	if fields[0] != "/usr/bin/env" {
		py = fields[0]
	}
	if err := exec.Command(py, "-c", "import ansible.inventory.manager").Run(); err != nil {
		return ""
	}
	return py
}

func TestInventoriesMatchAnsible(t *testing.T) {
	python := ansiblePython()
	if python == "" {
		t.Skip("ansible-core's Python is not installed: the differential test against ansible-core is skipped")
	}
	const n = 200
	r := rand.New(rand.NewSource(20261126))
	base := t.TempDir()
	var repos []*genRepo
	for i := 0; i < n; i++ {
		repo := generateRepo(r, filepath.Join(base, fmt.Sprintf("repo%03d", i)), i)
		repo.write(t)
		repos = append(repos, repo)
	}
	in, _ := json.Marshal(repos)
	start := time.Now()
	cmd := exec.Command(python, "-c", inventoryOracle)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Dir = base
	cfg := filepath.Join(base, "ansible.cfg")
	if err := os.WriteFile(cfg, []byte("[defaults]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "ANSIBLE_LOCAL_TEMP="+t.TempDir(), "ANSIBLE_CONFIG="+cfg,
		"ANSIBLE_INVENTORY_UNPARSED_WARNING=False", "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED=True", "ANSIBLE_HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ansible oracle: %v\n%s", err, stderr.String())
	}
	t.Logf("ansible-core answered for %d repositories in %v", n, time.Since(start).Round(time.Millisecond))
	var want []struct {
		Error     string                                `json:"error"`
		List      string                                `json:"list"`
		Graph     string                                `json:"graph"`
		Templated map[string]map[string]json.RawMessage `json:"templated"`
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	failures, templated, refused := 0, 0, 0
	for i, repo := range repos {
		w := want[i]
		fail := func(format string, a ...any) {
			failures++
			t.Errorf("repo %d: %s\n%s", i, fmt.Sprintf(format, a...), repo.dump())
		}
		if failures > 5 {
			t.Fatal("too many mismatches")
		}
		ev, err := ParseExtraVars(repo.ExtraVars)
		if err != nil {
			fail("extra vars: %v", err)
			continue
		}
		inv, err := Open(context.Background(), Options{Sources: repo.Sources, Basedir: repo.Basedir, ExtraVars: ev})
		switch {
		case w.Error != "" && err != nil:
			refused++
			continue
		case w.Error != "":
			fail("ansible-core fails (%s), we load it", w.Error)
			continue
		case err != nil:
			fail("we fail (%v), ansible-core loads it", err)
			continue
		}
		if got := string(MarshalPython(inv.List(nil))); got != w.List {
			fail("--list differs:\n%s", lineDiff(w.List, got))
			continue
		}
		if got, _ := inv.Graph("all", nil); got != w.Graph {
			fail("--graph differs:\n%s", lineDiff(w.Graph, got))
			continue
		}
		for host, keys := range w.Templated {
			for key, res := range keys {
				templated++
				var a struct {
					V any     `json:"v"`
					E *string `json:"e"`
				}
				_ = json.Unmarshal(res, &a)
				got, _, err := inv.Var(host, key)
				switch {
				case a.E != nil && err == nil:
					fail("host %s %s: ansible fails (%s), we give %#v", host, key, *a.E, got)
				case a.E == nil && err != nil:
					fail("host %s %s: we fail (%v), ansible gives %#v", host, key, err, a.V)
				case a.E == nil && !sameTemplated(a.V, got):
					fail("host %s %s: we give %#v, ansible %#v", host, key, got, a.V)
				}
			}
		}
	}
	t.Logf("%d repositories (%d refused by both), %d templated variables compared with ansible-core; ops side took %v", n, refused, templated, time.Since(start).Round(time.Millisecond))
}

// sameTemplated compares a templated value with Ansible's: Ansible 2.14
// (not native) gives text unless it reads as a list, dict or boolean; a
// template that is one expression keeps its type here.
func sameTemplated(want, got any) bool {
	var g any
	if err := json.Unmarshal(MarshalPython(got), &g); err != nil {
		return false
	}
	if reflect.DeepEqual(want, g) {
		return true
	}
	if ws, ok := want.(string); ok {
		if got == nil {
			return ws == ""
		}
		return pyStr(got) == ws
	}
	return false
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "line %d:\n  ansible: %s\n  ops:     %s\n", i+1, a, c)
			if b.Len() > 2000 {
				break
			}
		}
	}
	return b.String()
}
