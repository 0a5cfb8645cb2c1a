package ansible

import (
	"fmt"
	"strings"
)

// What ansible-inventory prints, built as lib/ansible/cli/inventory.py
// (2.14) builds it.

// List is `ansible-inventory --list`: every group reachable from all with
// its hosts (not for all) and children, empty keys and empty groups left
// out, and _meta.hostvars with each host's merged, untemplated variables.
// limit, when not nil, keeps only those hosts (as later ansible-inventory's
// --limit).
func (inv *Inventory) List(limit []string) map[string]any {
	keep := func(string) bool { return true }
	if limit != nil {
		set := toSet(limit)
		keep = func(h string) bool { return set[h] }
	}
	out := map[string]any{}
	seen := map[string]bool{}
	var format func(name string)
	format = func(name string) {
		g := inv.groups[name]
		entry := map[string]any{}
		if name != "all" {
			var hosts []any
			for _, h := range g.Hosts {
				if keep(h) {
					hosts = append(hosts, h)
				}
			}
			if len(hosts) > 0 {
				entry["hosts"] = hosts
			}
		}
		var children []any
		for _, c := range g.Children {
			children = append(children, c)
			if !seen[c] {
				format(c)
				seen[c] = true
			}
		}
		if len(children) > 0 {
			entry["children"] = children
		}
		if len(entry) > 0 {
			out[name] = entry
		} else {
			delete(out, name)
		}
	}
	format("all")
	hostvars := map[string]any{}
	for _, h := range inv.hostOrder {
		if !keep(h) {
			continue
		}
		if v, _ := inv.HostVars(h); len(v) > 0 {
			hostvars[h] = v
		}
	}
	out["_meta"] = map[string]any{"hostvars": hostvars}
	return out
}

// Graph is `ansible-inventory --graph [GROUP]`.
func (inv *Inventory) Graph(group string, limit []string) (string, error) {
	if group == "" {
		group = "all"
	}
	if _, ok := inv.groups[group]; !ok {
		return "", fmt.Errorf("pattern must be a valid group name when using --graph: no group %s", group)
	}
	keep := func(string) bool { return true }
	if limit != nil {
		set := toSet(limit)
		keep = func(h string) bool { return set[h] }
	}
	var lines []string
	name := func(s string, depth int) string {
		if depth == 0 {
			return s
		}
		return strings.Repeat("  |", depth) + "--" + s
	}
	var walk func(g string, depth int)
	walk = func(g string, depth int) {
		lines = append(lines, name("@"+g+":", depth))
		for _, c := range inv.groups[g].Children {
			walk(c, depth+1)
		}
		if g != "all" {
			for _, h := range inv.groups[g].Hosts {
				if keep(h) {
					lines = append(lines, name(h, depth+1))
				}
			}
		}
	}
	walk(group, 0)
	return strings.Join(lines, "\n"), nil
}
