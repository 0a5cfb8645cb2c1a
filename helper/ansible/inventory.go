// Package ansible reads Ansible inventories (INI, YAML, dynamic inventory
// executables, comma-separated host lists) and selects hosts with Ansible's
// host patterns, as ansible-core's InventoryManager does.
package ansible

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Group is an inventory group, its members in the order they were added.
type Group struct {
	Name     string
	Hosts    []string
	Children []string
	Parents  []string
	Vars     map[string]any
}

// Host is an inventory host.
type Host struct {
	Name   string
	Vars   map[string]any // host vars over group vars
	Groups []string
}

// Inventory is hosts and groups, in the order they were first seen.
type Inventory struct {
	hosts      map[string]*Host
	hostOrder  []string
	groups     map[string]*Group
	groupOrder []string
}

// New returns an inventory with the groups all and ungrouped.
func New() *Inventory {
	inv := &Inventory{hosts: map[string]*Host{}, groups: map[string]*Group{}}
	inv.group("all")
	inv.group("ungrouped")
	return inv
}

func (inv *Inventory) group(name string) *Group {
	g, ok := inv.groups[name]
	if !ok {
		g = &Group{Name: name, Vars: map[string]any{}}
		inv.groups[name] = g
		inv.groupOrder = append(inv.groupOrder, name)
	}
	return g
}

// AddHost adds host to group (created as needed), merging vars.
func (inv *Inventory) AddHost(group, host string, vars map[string]any) {
	h, ok := inv.hosts[host]
	if !ok {
		h = &Host{Name: host, Vars: map[string]any{}}
		inv.hosts[host] = h
		inv.hostOrder = append(inv.hostOrder, host)
	}
	for k, v := range vars {
		h.Vars[k] = v
	}
	if group == "" {
		return
	}
	g := inv.group(group)
	for _, x := range g.Hosts {
		if x == host {
			return
		}
	}
	g.Hosts = append(g.Hosts, host)
	h.Groups = append(h.Groups, group)
}

// AddChild makes child a child group of parent.
func (inv *Inventory) AddChild(parent, child string) error {
	if parent == child {
		return fmt.Errorf("can't add group %s to itself", parent)
	}
	p, c := inv.group(parent), inv.group(child)
	for _, x := range p.Children {
		if x == child {
			return nil
		}
	}
	if inv.isAncestor(child, parent) {
		return fmt.Errorf("adding group %q as child to %q creates a recursive dependency loop", child, parent)
	}
	p.Children = append(p.Children, child)
	c.Parents = append(c.Parents, parent)
	return nil
}

func (inv *Inventory) isAncestor(a, of string) bool {
	for _, p := range inv.groups[of].Parents {
		if p == a || inv.isAncestor(a, p) {
			return true
		}
	}
	return false
}

// reconcile applies Ansible's rules: top-level groups are children of
// all; hosts in no group are in ungrouped.
func (inv *Inventory) reconcile() {
	for _, name := range inv.groupOrder {
		g := inv.groups[name]
		if name != "all" && len(g.Parents) == 0 {
			_ = inv.AddChild("all", name)
		}
	}
	ungrouped := inv.groups["ungrouped"]
	for _, name := range inv.hostOrder {
		h := inv.hosts[name]
		others := 0
		for _, g := range h.Groups {
			if g != "all" && g != "ungrouped" {
				others++
			}
		}
		in := false
		for _, x := range ungrouped.Hosts {
			if x == name {
				in = true
			}
		}
		switch {
		case in && others > 0:
			ungrouped.Hosts = remove(ungrouped.Hosts, name)
		case !in && others == 0:
			inv.AddHost("ungrouped", name, nil)
		}
	}
}

func remove(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// Hosts lists every host, in inventory order.
func (inv *Inventory) Hosts() []string { return append([]string{}, inv.hostOrder...) }

// Host returns a host, with its group vars under its own (all first, then
// the groups from the most distant ancestor down).
func (inv *Inventory) Host(name string) (*Host, bool) {
	h, ok := inv.hosts[name]
	if !ok {
		return nil, false
	}
	vars := map[string]any{}
	for _, g := range inv.ancestry(h) {
		for k, v := range inv.groups[g].Vars {
			vars[k] = v
		}
	}
	for k, v := range h.Vars {
		vars[k] = v
	}
	return &Host{Name: h.Name, Vars: vars, Groups: h.Groups}, true
}

// ancestry orders a host's groups by depth, all first.
func (inv *Inventory) ancestry(h *Host) []string {
	depth := map[string]int{}
	var walk func(g string, d int)
	walk = func(g string, d int) {
		if old, ok := depth[g]; ok && old >= d {
			return
		}
		depth[g] = d
		for _, p := range inv.groups[g].Parents {
			walk(p, d-1)
		}
	}
	for _, g := range h.Groups {
		walk(g, 0)
	}
	var out []string
	for _, g := range inv.groupOrder {
		if _, ok := depth[g]; ok {
			out = append(out, g)
		}
	}
	// Most distant ancestor first; stable by group order.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && depth[out[j]] < depth[out[j-1]]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// groupHosts is Group.get_hosts(): the group's own hosts, then those of its
// descendants, breadth first, each once.
func (inv *Inventory) groupHosts(name string) []string {
	seenG := map[string]bool{name: true}
	order := []string{name}
	level := []string{name}
	for len(level) > 0 {
		var next []string
		for _, g := range level {
			for _, c := range inv.groups[g].Children {
				if !seenG[c] {
					seenG[c] = true
					order = append(order, c)
					next = append(next, c)
				}
			}
		}
		level = next
	}
	var hosts []string
	seen := map[string]bool{}
	for _, g := range order {
		for _, h := range inv.groups[g].Hosts {
			if !seen[h] {
				seen[h] = true
				hosts = append(hosts, h)
			}
		}
	}
	return hosts
}

// Load reads inventory sources into one inventory.
func Load(ctx context.Context, sources []string) (*Inventory, error) {
	inv := New()
	for _, src := range sources {
		if err := inv.load(ctx, src); err != nil {
			return nil, err
		}
	}
	inv.reconcile()
	return inv, nil
}

func (inv *Inventory) load(ctx context.Context, src string) error {
	fi, err := os.Stat(src)
	if err != nil {
		if strings.Contains(src, ",") {
			for _, h := range strings.Split(src, ",") {
				if h = strings.TrimSpace(h); h != "" {
					inv.AddHost("ungrouped", h, nil)
				}
			}
			return nil
		}
		return fmt.Errorf("inventory %s: %w", src, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("inventory %s is a directory (not supported by ops exec)", src)
	}
	if fi.Mode()&0o111 != 0 {
		return inv.loadScript(ctx, src)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	switch strings.ToLower(filepath.Ext(src)) {
	case ".yml", ".yaml", ".json":
		return inv.loadYAML(src, b)
	}
	return inv.loadINI(src, b)
}

func (inv *Inventory) loadScript(ctx context.Context, src string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, src, "--list")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("inventory %s: %v: %s", src, err, strings.TrimSpace(stderr.String()))
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(out, &data); err != nil {
		return fmt.Errorf("inventory %s: not JSON: %v", src, err)
	}
	var meta struct {
		HostVars map[string]map[string]any `json:"hostvars"`
	}
	if m, ok := data["_meta"]; ok {
		_ = json.Unmarshal(m, &meta)
	}
	var names []string
	for k := range data {
		if k != "_meta" {
			names = append(names, k)
		}
	}
	// JSON objects have no order: groups by name (as Ansible's script plugin sees a dict).
	sortStrings(names)
	for _, name := range names {
		raw := data[name]
		var g struct {
			Hosts    []string       `json:"hosts"`
			Children []string       `json:"children"`
			Vars     map[string]any `json:"vars"`
		}
		if err := json.Unmarshal(raw, &g); err != nil {
			var list []string
			if json.Unmarshal(raw, &list) != nil {
				return fmt.Errorf("inventory %s: group %s: %v", src, name, err)
			}
			g.Hosts = list
		}
		grp := inv.group(name)
		for k, v := range g.Vars {
			grp.Vars[k] = v
		}
		for _, h := range g.Hosts {
			inv.AddHost(name, h, meta.HostVars[h])
		}
		for _, c := range g.Children {
			if err := inv.AddChild(name, c); err != nil {
				return err
			}
		}
	}
	for h, vars := range meta.HostVars {
		if _, ok := inv.hosts[h]; ok {
			inv.AddHost("", h, vars)
		}
	}
	return nil
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

var section = regexp.MustCompile(`^\[([^\]]+?)(?::(vars|children))?\]\s*(?:[#;].*)?$`)

func (inv *Inventory) loadINI(src string, b []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	group, kind := "ungrouped", "hosts"
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if m := section.FindStringSubmatch(line); m != nil {
			group, kind = m[1], "hosts"
			if m[2] != "" {
				kind = m[2]
			}
			inv.group(group)
			continue
		}
		fields, err := splitShell(line)
		if err != nil {
			return fmt.Errorf("%s:%d: %v", src, n, err)
		}
		switch kind {
		case "vars":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return fmt.Errorf("%s:%d: expected key=value in [%s:vars]", src, n, group)
			}
			inv.group(group).Vars[strings.TrimSpace(k)] = iniValue(strings.TrimSpace(v))
		case "children":
			if err := inv.AddChild(group, fields[0]); err != nil {
				return fmt.Errorf("%s:%d: %v", src, n, err)
			}
		default:
			vars := map[string]any{}
			for _, f := range fields[1:] {
				k, v, ok := strings.Cut(f, "=")
				if !ok {
					return fmt.Errorf("%s:%d: expected key=value host variable, got %q", src, n, f)
				}
				vars[k] = iniValue(v)
			}
			names, err := expandRange(fields[0])
			if err != nil {
				return fmt.Errorf("%s:%d: %v", src, n, err)
			}
			for _, h := range names {
				name, port := splitHostPort(h)
				hv := vars
				if port != "" {
					hv = map[string]any{"ansible_port": port}
					for k, v := range vars {
						hv[k] = v
					}
				}
				inv.AddHost(group, name, hv)
			}
		}
	}
	return sc.Err()
}

func splitHostPort(h string) (string, string) {
	if i := strings.LastIndex(h, ":"); i > 0 && strings.Count(h, ":") == 1 {
		if _, err := strconv.Atoi(h[i+1:]); err == nil {
			return h[:i], h[i+1:]
		}
	}
	return h, ""
}

func iniValue(s string) any {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return s
}

// splitShell splits a line as shlex does (quotes, comments after #).
func splitShell(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in := false
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			q, in = c, true
		case c == '#':
			i = len(s)
		case c == ' ' || c == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if q != 0 {
		return nil, fmt.Errorf("unclosed quote")
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}

var hostRange = regexp.MustCompile(`^(.*?)\[([0-9]+|[a-z]):([0-9]+|[a-z])(?::([0-9]+))?\](.*)$`)

// expandRange expands web[01:03].example → web01.example … (and [a:c]).
func expandRange(pattern string) ([]string, error) {
	m := hostRange.FindStringSubmatch(pattern)
	if m == nil {
		return []string{pattern}, nil
	}
	step := 1
	if m[4] != "" {
		step, _ = strconv.Atoi(m[4])
		if step < 1 {
			return nil, fmt.Errorf("bad range step in %s", pattern)
		}
	}
	var items []string
	if a, err := strconv.Atoi(m[2]); err == nil {
		z, err := strconv.Atoi(m[3])
		if err != nil || z < a {
			return nil, fmt.Errorf("bad range in %s", pattern)
		}
		width := 0
		if len(m[2]) > 1 && m[2][0] == '0' {
			width = len(m[2])
		}
		for i := a; i <= z; i += step {
			items = append(items, fmt.Sprintf("%0*d", width, i))
		}
	} else {
		if m[3] < m[2] {
			return nil, fmt.Errorf("bad range in %s", pattern)
		}
		for c := m[2][0]; c <= m[3][0]; c += byte(step) {
			items = append(items, string(c))
		}
	}
	var out []string
	for _, it := range items {
		rest, err := expandRange(m[5])
		if err != nil {
			return nil, err
		}
		for _, r := range rest {
			out = append(out, m[1]+it+r)
		}
	}
	return out, nil
}

func (inv *Inventory) loadYAML(src string, b []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("inventory %s: %v", src, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("inventory %s: the top level must be a mapping of groups", src)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if err := inv.yamlGroup(src, root.Content[i].Value, root.Content[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func (inv *Inventory) yamlGroup(src, name string, n *yaml.Node) error {
	g := inv.group(name)
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return nil
		}
		return fmt.Errorf("%s:%d: group %s must be a mapping", src, n.Line, name)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i].Value, n.Content[i+1]
		switch key {
		case "hosts":
			if val.Kind != yaml.MappingNode {
				if val.Tag == "!!null" {
					continue
				}
				return fmt.Errorf("%s:%d: hosts of %s must be a mapping", src, val.Line, name)
			}
			for j := 0; j+1 < len(val.Content); j += 2 {
				var vars map[string]any
				_ = val.Content[j+1].Decode(&vars)
				names, err := expandRange(val.Content[j].Value)
				if err != nil {
					return err
				}
				for _, h := range names {
					inv.AddHost(name, h, vars)
				}
			}
		case "vars":
			var vars map[string]any
			if err := val.Decode(&vars); err != nil {
				return fmt.Errorf("%s:%d: vars of %s: %v", src, val.Line, name, err)
			}
			for k, v := range vars {
				g.Vars[k] = v
			}
		case "children":
			if val.Kind != yaml.MappingNode {
				if val.Tag == "!!null" {
					continue
				}
				return fmt.Errorf("%s:%d: children of %s must be a mapping", src, val.Line, name)
			}
			for j := 0; j+1 < len(val.Content); j += 2 {
				child := val.Content[j].Value
				if err := inv.AddChild(name, child); err != nil {
					return err
				}
				if err := inv.yamlGroup(src, child, val.Content[j+1]); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("%s:%d: group %s: unknown key %q", src, n.Content[i].Line, name, key)
		}
	}
	return nil
}
