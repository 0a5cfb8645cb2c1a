// Package ansible reads Ansible inventories as ansible-core 2.14 does
// (INI, YAML/JSON, executable scripts, directories of them, `h1,h2,` host
// lists), gives each host its variables with Ansible's precedence (inventory
// vars, group_vars/ and host_vars/ beside the sources and the playbook
// directory, extra vars), templates them with Jinja (Templar), resolves the
// connection variables ops uses, and selects hosts with Ansible's host
// patterns.
package ansible

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Group is an inventory group, its members in the order they were added.
type Group struct {
	Name     string
	Hosts    []string
	Children []string
	Parents  []string
	Vars     map[string]any // set in inventory sources (not group_vars/)
	Priority int            // ansible_group_priority, 1 unless set
}

// Host is an inventory host.
type Host struct {
	Name   string
	Vars   map[string]any // Host: every variable with Ansible's precedence, untemplated
	Groups []string       // the groups it was put in (not their ancestors)
}

// Options says what to load.
type Options struct {
	Sources []string
	// Basedir is the playbook directory: its group_vars/ and host_vars/
	// come after those beside the sources. "" is the current directory,
	// as for ansible and ansible-inventory without --playbook-dir.
	Basedir string
	// ExtraVars (-e) are above every other variable.
	ExtraVars map[string]any
}

// SourceError is an inventory source (or a group_vars/host_vars file)
// that cannot be read or parsed. Ansible only warns; ops refuses.
type SourceError struct {
	Source string
	Err    error
}

func (e *SourceError) Error() string { return fmt.Sprintf("inventory source %s: %v", e.Source, e.Err) }
func (e *SourceError) Unwrap() error { return e.Err }

// Inventory is hosts and groups, in the order they were first seen, and
// what their variables come from.
type Inventory struct {
	hosts      map[string]*Host
	hostOrder  []string
	groups     map[string]*Group
	groupOrder []string

	addr      *addressPatterns
	sources   []string
	basedir   string
	extraVars map[string]any
	varsDirs  []*varsDir // one per source (host lists skipped), then the basedir
	current   string     // the source being parsed (inventory_file)
	templar   *Templar
}

// New returns an inventory with the groups all and ungrouped.
func New() *Inventory {
	inv := &Inventory{hosts: map[string]*Host{}, groups: map[string]*Group{}, addr: newAddressPatterns(), templar: NewTemplar()}
	inv.group("all")
	inv.group("ungrouped")
	_ = inv.AddChild("all", "ungrouped")
	return inv
}

func (inv *Inventory) group(name string) *Group {
	g, ok := inv.groups[name]
	if !ok {
		g = &Group{Name: name, Vars: map[string]any{}, Priority: 1}
		inv.groups[name] = g
		inv.groupOrder = append(inv.groupOrder, name)
	}
	return g
}

// Group returns a group.
func (inv *Inventory) Group(name string) (*Group, bool) {
	g, ok := inv.groups[name]
	return g, ok
}

// Groups lists the groups in the order they were first seen.
func (inv *Inventory) Groups() []string { return slices.Clone(inv.groupOrder) }

// addHost is InventoryData.add_host: a new host gets inventory_file,
// inventory_dir and, when given (not 0), ansible_port.
func (inv *Inventory) addHost(group, host string, port int) error {
	if host == "" {
		return errors.New("invalid empty host name")
	}
	if group != "" {
		if _, ok := inv.groups[group]; !ok {
			return fmt.Errorf("could not find group %s in inventory", group)
		}
	}
	h, ok := inv.hosts[host]
	if !ok {
		h = &Host{Name: host, Vars: map[string]any{}}
		inv.hosts[host] = h
		inv.hostOrder = append(inv.hostOrder, host)
		if port > 0 {
			h.Vars["ansible_port"] = port
		}
		if inv.current != "" {
			h.Vars["inventory_file"] = inv.current
			h.Vars["inventory_dir"] = inventoryDir(inv.current)
		} else {
			h.Vars["inventory_file"] = nil
			h.Vars["inventory_dir"] = nil
		}
	}
	if group == "" {
		return nil
	}
	g := inv.groups[group]
	if slices.Contains(g.Hosts, host) {
		return nil
	}
	g.Hosts = append(g.Hosts, host)
	h.Groups = append(h.Groups, group)
	return nil
}

// inventoryDir is ansible.utils.path.basedir.
func inventoryDir(source string) any {
	fi, err := os.Stat(source)
	switch {
	case err == nil && fi.IsDir():
		return absPath(source)
	case err == nil:
		return absPath(filepath.Dir(source))
	}
	return "None" // what Python's to_text(None) gives for a host list
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// AddHost adds host to group (created as needed), setting vars.
func (inv *Inventory) AddHost(group, host string, vars map[string]any) {
	if group != "" {
		inv.group(group)
	}
	_ = inv.addHost(group, host, 0)
	for k, v := range vars {
		inv.hosts[host].Vars[k] = v
	}
}

// setGroupVar is Group.set_variable: ansible_group_priority sets the
// priority (an int as Python's int() makes it).
func (inv *Inventory) setGroupVar(group, key string, value any) error {
	g := inv.groups[group]
	if key != "ansible_group_priority" {
		g.Vars[key] = value
		return nil
	}
	n, err := pyIntOf(value)
	if err != nil {
		return fmt.Errorf("group %s: ansible_group_priority: %v", group, err)
	}
	g.Priority = n
	return nil
}

// AddChild makes child a child group of parent.
func (inv *Inventory) AddChild(parent, child string) error {
	if parent == child {
		return fmt.Errorf("can't add group %s to itself", parent)
	}
	p, c := inv.group(parent), inv.group(child)
	if slices.Contains(p.Children, child) {
		return nil
	}
	if inv.isAncestor(child, parent) {
		return fmt.Errorf("adding group '%s' as child to '%s' creates a recursive dependency loop", child, parent)
	}
	p.Children = append(p.Children, child)
	if !slices.Contains(c.Parents, parent) {
		c.Parents = append(c.Parents, parent)
	}
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

// reconcile is InventoryData.reconcile_inventory: top-level groups are
// children of all; hosts in no group are in ungrouped, and only they.
func (inv *Inventory) reconcile() {
	for _, name := range inv.groupOrder {
		if name != "all" && len(inv.groups[name].Parents) == 0 {
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
		in := slices.Contains(ungrouped.Hosts, name)
		switch {
		case in && others > 0:
			ungrouped.Hosts = slices.DeleteFunc(ungrouped.Hosts, func(x string) bool { return x == name })
			h.Groups = slices.DeleteFunc(h.Groups, func(x string) bool { return x == "ungrouped" })
		case !in && others == 0:
			_ = inv.addHost("ungrouped", name, 0)
		}
	}
}

// Hosts lists every host, in inventory order.
func (inv *Inventory) Hosts() []string { return slices.Clone(inv.hostOrder) }

// HasHost tells whether the inventory holds a host of that name.
func (inv *Inventory) HasHost(name string) bool { _, ok := inv.hosts[name]; return ok }

// Host returns a host with every variable merged as Ansible does
// (untemplated; inventory_file and inventory_dir included).
func (inv *Inventory) Host(name string) (*Host, bool) {
	h, ok := inv.hosts[name]
	if !ok {
		return nil, false
	}
	return &Host{Name: h.Name, Vars: inv.rawVars(h), Groups: slices.Clone(h.Groups)}, true
}

// GroupNames is group_names: the host's groups and their ancestors but
// all, sorted.
func (inv *Inventory) GroupNames(host string) []string {
	h, ok := inv.hosts[host]
	if !ok {
		return nil
	}
	var out []string
	for g := range inv.hostGroups(h) {
		if g != "all" {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// hostGroups is Host.get_groups() as a set: direct groups and ancestors.
func (inv *Inventory) hostGroups(h *Host) map[string]bool {
	set := map[string]bool{}
	var up func(g string)
	up = func(g string) {
		if set[g] {
			return
		}
		set[g] = true
		for _, p := range inv.groups[g].Parents {
			up(p)
		}
	}
	for _, g := range h.Groups {
		up(g)
	}
	return set
}

// depth is Group.depth: the longest path down from all.
func (inv *Inventory) depth(g string, memo map[string]int) int {
	if d, ok := memo[g]; ok {
		return d
	}
	d := 0
	for _, p := range inv.groups[g].Parents {
		d = max(d, inv.depth(p, memo)+1)
	}
	memo[g] = d
	return d
}

// sortedGroups is sort_groups over the host's groups but all: by depth,
// then ansible_group_priority, then name.
func (inv *Inventory) sortedGroups(h *Host) []string {
	memo := map[string]int{}
	var gs []string
	for g := range inv.hostGroups(h) {
		if g != "all" {
			gs = append(gs, g)
		}
	}
	slices.SortFunc(gs, func(a, b string) int {
		if da, db := inv.depth(a, memo), inv.depth(b, memo); da != db {
			return da - db
		}
		if pa, pb := inv.groups[a].Priority, inv.groups[b].Priority; pa != pb {
			return pa - pb
		}
		return strings.Compare(a, b)
	})
	return gs
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

// Load reads inventory sources into one inventory, with group_vars/ and
// host_vars/ beside them and beside the current directory.
func Load(ctx context.Context, sources []string) (*Inventory, error) {
	return Open(ctx, Options{Sources: sources})
}

// Open reads the sources in order, then the variables files beside them
// and beside o.Basedir. Any source or variables file that cannot be read
// or parsed is a *SourceError.
func Open(ctx context.Context, o Options) (*Inventory, error) {
	inv := New()
	inv.basedir = o.Basedir
	if inv.basedir == "" {
		inv.basedir = "."
	}
	inv.extraVars = o.ExtraVars
	for _, src := range o.Sources {
		if src == "" {
			continue
		}
		if !strings.Contains(src, ",") {
			src = unfrackPath(src)
		}
		inv.sources = append(inv.sources, src)
		if err := inv.parseSource(ctx, src); err != nil {
			return nil, err
		}
	}
	inv.current = ""
	inv.reconcile()
	if err := inv.loadVarsDirs(); err != nil {
		return nil, err
	}
	return inv, nil
}

// unfrackPath is ansible.utils.path.unfrackpath(follow=False).
func unfrackPath(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = home + p[1:]
		}
	}
	p = os.Expand(p, func(name string) string {
		if v, ok := os.LookupEnv(name); ok {
			return v
		}
		return "$" + name
	})
	return filepath.Clean(absPath(p))
}
