package ansible

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// varsDir is what the host_group_vars vars plugin finds in one directory:
// group_vars/NAME and host_vars/NAME (a file, NAME.yml|.yaml|.json, or a
// directory of such files, recursively, in name order).
type varsDir struct {
	dir    string
	groups map[string]map[string]any
	hosts  map[string]map[string]any
}

// loadVarsDirs reads group_vars/ and host_vars/ beside each source (a
// file's directory, a directory itself; host lists have none), then
// beside the basedir, for every group and host.
func (inv *Inventory) loadVarsDirs() error {
	var dirs []string
	for _, src := range inv.sources {
		fi, err := os.Stat(src)
		if err != nil && strings.Contains(src, ",") {
			continue
		}
		if err != nil || !fi.IsDir() {
			src = filepath.Dir(src)
		}
		dirs = append(dirs, src)
	}
	dirs = append(dirs, inv.basedir)
	read := map[string]*varsDir{}
	for _, d := range dirs {
		abs := absPath(d)
		if vd, ok := read[abs]; ok {
			inv.varsDirs = append(inv.varsDirs, vd)
			continue
		}
		vd := &varsDir{dir: abs, groups: map[string]map[string]any{}, hosts: map[string]map[string]any{}}
		for _, sub := range []struct {
			name  string
			names []string
			into  map[string]map[string]any
		}{{"group_vars", inv.groupOrder, vd.groups}, {"host_vars", inv.hostOrder, vd.hosts}} {
			dir, err := filepath.EvalSymlinks(filepath.Join(abs, sub.name))
			if err != nil {
				continue
			}
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				continue // Ansible warns and skips it
			}
			for _, name := range sub.names {
				if strings.HasPrefix(name, "/") {
					continue
				}
				vars, err := loadVarsFiles(dir, name)
				if err != nil {
					return err
				}
				if vars != nil {
					sub.into[name] = vars
				}
			}
		}
		read[abs] = vd
		inv.varsDirs = append(inv.varsDirs, vd)
	}
	return nil
}

var varsExts = []string{".yml", ".yaml", ".json"}

// loadVarsFiles is DataLoader.find_vars_files plus loading: the first of
// NAME, NAME.yml, NAME.yaml, NAME.json that exists.
func loadVarsFiles(dir, name string) (map[string]any, error) {
	var files []string
	for _, ext := range append([]string{""}, varsExts...) {
		p := filepath.Join(dir, name+ext)
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			found, err := dirVarsFiles(p)
			if err != nil {
				return nil, &SourceError{Source: p, Err: errors.Unwrap(err)}
			}
			files = found
		} else {
			files = []string{p}
		}
		break
	}
	var out map[string]any
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, &SourceError{Source: f, Err: errors.Unwrap(err)}
		}
		v, err := decodeData(b, f)
		if err != nil {
			return nil, &SourceError{Source: f, Err: errors.New(strings.TrimPrefix(err.Error(), f+": "))}
		}
		if !truthy(v) {
			continue // empty files are ignored
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, &SourceError{Source: f, Err: fmt.Errorf("expected a mapping of variables, got %s", pyTypeName(v))}
		}
		if out == nil {
			out = map[string]any{}
		}
		maps.Copy(out, m)
	}
	return out, nil
}

func dirVarsFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var found []string
	for _, n := range names {
		if strings.HasPrefix(n, ".") || strings.HasSuffix(n, "~") {
			continue
		}
		p := filepath.Join(dir, n)
		ext := filepath.Ext(n)
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		switch {
		case fi.IsDir() && ext == "":
			more, err := dirVarsFiles(p)
			if err != nil {
				return nil, err
			}
			found = append(found, more...)
		case fi.Mode().IsRegular() && (ext == "" || contains(varsExts, ext)):
			found = append(found, p)
		}
	}
	return found, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case int:
		return v != 0
	case float64:
		return v != 0
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

func pyTypeName(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string, Unsafe:
		return "a string"
	case int:
		return "an int"
	case float64:
		return "a float"
	case bool:
		return "a bool"
	}
	return fmt.Sprintf("%T", v)
}

// rawVars is VariableManager.get_vars(host=…) without magic variables:
// the all group's inventory vars, the other groups' (sort_groups order),
// group_vars/all beside each source then the basedir, the other groups'
// group_vars likewise, the host's inventory vars, its host_vars, extra vars.
func (inv *Inventory) rawVars(h *Host) map[string]any {
	v := map[string]any{}
	groups := inv.sortedGroups(h)
	maps.Copy(v, inv.groups["all"].Vars)
	for _, g := range groups {
		maps.Copy(v, inv.groups[g].Vars)
	}
	for _, vd := range inv.varsDirs {
		maps.Copy(v, vd.groups["all"])
	}
	for _, vd := range inv.varsDirs {
		for _, g := range groups {
			maps.Copy(v, vd.groups[g])
		}
	}
	maps.Copy(v, h.Vars)
	for _, vd := range inv.varsDirs {
		maps.Copy(v, vd.hosts[h.Name])
	}
	maps.Copy(v, inv.extraVars)
	return v
}

// internalVars are the variables ansible-inventory leaves out.
var internalVars = map[string]bool{
	"ansible_diff_mode": true, "ansible_config_file": true, "ansible_facts": true, "ansible_forks": true,
	"ansible_inventory_sources": true, "ansible_limit": true, "ansible_playbook_python": true,
	"ansible_run_tags": true, "ansible_skip_tags": true, "ansible_verbosity": true, "ansible_version": true,
	"inventory_dir": true, "inventory_file": true, "inventory_hostname": true, "inventory_hostname_short": true,
	"groups": true, "group_names": true, "omit": true, "playbook_dir": true,
}

// HostVars is what `ansible-inventory --host NAME` prints: every variable
// of the host, merged with Ansible's precedence, untemplated, Ansible's
// internal variables left out.
func (inv *Inventory) HostVars(name string) (map[string]any, error) {
	h, ok := inv.hosts[name]
	if !ok {
		return nil, fmt.Errorf("no host %s in the inventory", name)
	}
	v := inv.rawVars(h)
	for k := range v {
		if internalVars[k] {
			delete(v, k)
		}
	}
	return v, nil
}

// TemplateVars are the variables a template for the host sees: its own
// (untemplated), then the magic ones: inventory_hostname,
// inventory_hostname_short, group_names, groups, playbook_dir.
func (inv *Inventory) TemplateVars(name string) (map[string]any, error) {
	return inv.TemplateVarsWith(name, inv.GroupsVar())
}

// GroupsVar is the magic variable groups: every group's hosts. A run over
// many hosts computes it once and hands it to TemplateVarsWith.
func (inv *Inventory) GroupsVar() map[string]any {
	groups := map[string]any{}
	for _, g := range inv.groupOrder {
		hs := inv.groupHosts(g)
		l := make([]any, len(hs))
		for i, x := range hs {
			l[i] = x
		}
		groups[g] = l
	}
	return groups
}

// TemplateVarsWith is TemplateVars with groups given (shared, not copied).
func (inv *Inventory) TemplateVarsWith(name string, groups map[string]any) (map[string]any, error) {
	h, ok := inv.hosts[name]
	if !ok {
		return nil, fmt.Errorf("no host %s in the inventory", name)
	}
	v := inv.rawVars(h)
	v["inventory_hostname"] = name
	short := name
	if !inv.addr.isIP(name) {
		short, _, _ = strings.Cut(name, ".")
	}
	v["inventory_hostname_short"] = short
	gn := inv.GroupNames(name)
	names := make([]any, len(gn))
	for i, g := range gn {
		names[i] = g
	}
	v["group_names"] = names
	v["groups"] = groups
	v["playbook_dir"] = absPath(inv.basedir)
	v["omit"] = "__omit_place_holder__"
	return v, nil
}

// ParseExtraVars reads -e values as Ansible's load_extra_vars: `@FILE`
// (YAML or JSON), YAML/JSON text starting with { or [, else key=value
// pairs (values are strings). Later values override earlier ones.
func ParseExtraVars(args []string) (map[string]any, error) {
	out := map[string]any{}
	for _, a := range args {
		if a == "" {
			continue
		}
		var data any
		switch {
		case a[0] == '@':
			b, err := os.ReadFile(a[1:])
			if err != nil {
				return nil, fmt.Errorf("extra vars %s: %v", a, errors.Unwrap(err))
			}
			if data, err = decodeData(b, a[1:]); err != nil {
				return nil, fmt.Errorf("extra vars %v", err)
			}
		case a[0] == '/' || a[0] == '.':
			return nil, fmt.Errorf("please prepend extra vars filename %q with '@'", a)
		case a[0] == '[' || a[0] == '{':
			var err error
			if data, err = decodeData([]byte(a), "-e"); err != nil {
				return nil, fmt.Errorf("extra vars %v", err)
			}
		default:
			var err error
			if data, err = pyParseKV(a, false); err != nil {
				return nil, fmt.Errorf("extra vars %q: %v", a, err)
			}
		}
		m, ok := data.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("invalid extra vars data supplied: %q could not be made into a dictionary", a)
		}
		maps.Copy(out, m)
	}
	return out, nil
}

// decodeEscapes decodes \n, \t, \uXXXX… as Python's unicode_escape would.
func decodeEscapes(s string) string { return pyUnicodeEscape(s) }
