package ansible

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ignoredEntry is InventoryManager's IGNORED for directory sources with
// ansible-core 2.14's defaults: hidden files, host_vars, group_vars,
// vars_plugins, and INVENTORY_IGNORE_EXTS (REJECT_EXTS + .orig, .ini,
// .cfg, .retry); INVENTORY_IGNORE_PATTERNS is empty.
var ignoredEntry = regexp.MustCompile(`^\.|^host_vars$|^group_vars$|^vars_plugins$|(?:\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.ini|\.cfg|\.retry)$`)

// parseSource is InventoryManager.parse_source.
func (inv *Inventory) parseSource(ctx context.Context, src string) error {
	fi, err := os.Stat(src)
	if err == nil && fi.IsDir() {
		entries, err := os.ReadDir(src)
		if err != nil {
			return &SourceError{Source: src, Err: err}
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		for _, name := range names {
			if ignoredEntry.MatchString(name) {
				continue
			}
			if err := inv.parseSource(ctx, filepath.Join(src, name)); err != nil {
				return err
			}
		}
		return nil
	}
	inv.current = src
	if err != nil {
		if strings.Contains(src, ",") {
			return inv.parseHostList(src)
		}
		return &SourceError{Source: src, Err: errors.Unwrap(err)}
	}
	// The plugins in INVENTORY_ENABLED's order, each that wants the file.
	var failures []string
	if scriptWanted(src, fi) {
		err := inv.parseScript(ctx, src)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failures = append(failures, "script: "+err.Error())
	}
	b, err := os.ReadFile(src)
	if err != nil {
		if len(failures) > 0 {
			return &SourceError{Source: src, Err: errors.New(failures[0])}
		}
		return &SourceError{Source: src, Err: errors.Unwrap(err)}
	}
	ext := filepath.Ext(src)
	if ext == ".yml" || ext == ".yaml" {
		// auto: a plugin configuration file.
		if v, err := decodeData(b, src); err == nil {
			if m, ok := v.(map[string]any); ok && m["plugin"] != nil {
				return &SourceError{Source: src, Err: fmt.Errorf("inventory plugin %v: not supported by ops (only INI, YAML, scripts and host lists)", m["plugin"])}
			}
		}
	}
	if ext == "" || ext == ".yml" || ext == ".yaml" || ext == ".json" {
		err := inv.parseYAML(src, b)
		if err == nil {
			return nil
		}
		failures = append(failures, "yaml: "+err.Error())
	}
	if err := inv.parseINI(src, b); err != nil {
		failures = append(failures, "ini: "+err.Error())
	} else {
		return nil
	}
	// The most telling failure: the plugin the file was meant for.
	msg := failures[len(failures)-1]
	if ext == ".yml" || ext == ".yaml" || ext == ".json" {
		for _, f := range failures {
			if strings.HasPrefix(f, "yaml: ") {
				msg = f
			}
		}
	}
	return &SourceError{Source: src, Err: errors.New(msg)}
}

// scriptWanted is the script plugin's verify_file: executable, or
// starting with #!.
func scriptWanted(path string, fi os.FileInfo) bool {
	if fi.Mode()&0o111 != 0 {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 2)
	n, _ := f.Read(head)
	return n == 2 && string(head) == "#!"
}

func (inv *Inventory) parseHostList(src string) error {
	for _, h := range strings.Split(src, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		host, port, err := inv.addr.parseAddress(h, false)
		if err != nil {
			host, port = h, -1
		}
		if _, ok := inv.hosts[host]; !ok {
			if err := inv.addHost("ungrouped", host, port); err != nil {
				return &SourceError{Source: src, Err: err}
			}
		}
	}
	return nil
}

// parseScript runs an executable inventory with --list, and with --host
// for each host when its answer has no _meta.hostvars.
func (inv *Inventory) parseScript(ctx context.Context, src string) error {
	out, err := runScript(ctx, src, "--list")
	if err != nil {
		return err
	}
	if !json.Valid(out) {
		return errors.New("the output of --list is not JSON")
	}
	root, _, err := parseYAMLDoc(out, src)
	if err != nil {
		return err
	}
	if root == nil || root.Kind != yaml.MappingNode {
		return errors.New("the output of --list needs to be a JSON object")
	}
	var meta map[string]any
	hasMeta := false
	scriptHosts := map[string]bool{}
	var order []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		name := root.Content[i].Value
		v, err := yamlValue(root.Content[i+1], src, true)
		if err != nil {
			return err
		}
		if name == "_meta" {
			if m, ok := v.(map[string]any); ok {
				if hv, ok := m["hostvars"]; ok {
					hasMeta = true
					meta, _ = hv.(map[string]any)
					if hv != nil && meta == nil {
						return errors.New("improperly formatted _meta.hostvars")
					}
				}
			}
			continue
		}
		inv.group(name)
		data, isMap := v.(map[string]any)
		switch {
		case !isMap:
			data = map[string]any{"hosts": v}
		case !hasAny(data, "hosts", "vars", "children"):
			data = map[string]any{"hosts": []any{name}, "vars": data}
		}
		if hs, ok := data["hosts"]; ok {
			list, ok := hs.([]any)
			if !ok {
				return fmt.Errorf("group %s: bad data for the host list", name)
			}
			for _, h := range list {
				hn, ok := h.(string)
				if !ok {
					return fmt.Errorf("group %s: host %v is not a string", name, h)
				}
				if !scriptHosts[hn] {
					scriptHosts[hn] = true
					order = append(order, hn)
				}
				if err := inv.addHost(name, hn, 0); err != nil {
					return err
				}
			}
		}
		if vs, ok := data["vars"]; ok {
			vars, ok := vs.(map[string]any)
			if !ok {
				return fmt.Errorf("group %s: bad data for variables", name)
			}
			for k, x := range vars {
				if err := inv.setGroupVar(name, k, x); err != nil {
					return err
				}
			}
		}
		if cs, ok := data["children"]; ok {
			var kids []string
			switch c := cs.(type) {
			case []any:
				for _, x := range c {
					kids = append(kids, pyStr(x))
				}
			case map[string]any:
				for k := range c {
					kids = append(kids, k)
				}
				sort.Strings(kids)
			case string:
				for _, r := range c {
					kids = append(kids, string(r))
				}
			}
			for _, k := range kids {
				inv.group(k)
				if err := inv.AddChild(name, k); err != nil {
					return err
				}
			}
		}
	}
	for _, h := range order {
		var got any = map[string]any{}
		if hasMeta {
			if x, ok := meta[h]; ok {
				got = x
			}
		} else {
			out, err := runScript(ctx, src, "--host", h)
			if err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			// Ansible 2.14 reads an empty answer as null, and fails.
			if got, err = decodeData(out, src); err != nil {
				return fmt.Errorf("--host %s: %v", h, err)
			}
			if got == nil {
				return fmt.Errorf("--host %s: expected a dictionary of variables, got nothing", h)
			}
		}
		vars, ok := got.(map[string]any)
		if !ok && got != nil {
			return fmt.Errorf("host %s: variables are not a mapping", h)
		}
		for k, x := range vars {
			inv.hosts[h].Vars[k] = x
		}
	}
	return nil
}

func hasAny(m map[string]any, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

func runScript(ctx context.Context, src string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, src, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if len(args) > 0 && args[0] == "--host" {
			return out, nil // Ansible ignores --host's exit status
		}
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i] + " …"
		}
		if msg != "" {
			return nil, fmt.Errorf("%v: %s", err, msg)
		}
		return nil, err
	}
	return out, nil
}

// pyIntOf is Python's int() of a value.
func pyIntOf(v any) (int, error) {
	switch v := v.(type) {
	case int:
		return v, nil
	case bool:
		return btoi(v), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("cannot convert %v to an integer", v)
		}
		return int(v), nil
	case *big.Int:
		return int(v.Int64()), nil
	case string:
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(v), "_", ""))
		if err != nil {
			return 0, fmt.Errorf("invalid literal for int(): %q", v)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%v is not an integer", v)
}

// ---- YAML inventories ----

func (inv *Inventory) parseYAML(src string, b []byte) error {
	root, jsonMode, err := parseYAMLDoc(b, src)
	if err != nil {
		return err
	}
	if root == nil || root.Kind == yaml.ScalarNode && root.Value == "" {
		return errors.New("parsed empty YAML file")
	}
	if root.Kind == yaml.AliasNode {
		root = root.Alias
	}
	if root.Kind != yaml.MappingNode {
		return errors.New("YAML inventory has invalid structure, it should be a dictionary")
	}
	if len(root.Content) == 0 {
		return errors.New("parsed empty YAML file")
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "plugin" {
			return errors.New("plugin configuration YAML file, not YAML inventory")
		}
	}
	y := &yamlInventory{inv: inv, src: src, json: jsonMode}
	for i := 0; i+1 < len(root.Content); i += 2 {
		name, err := y.key(root.Content[i])
		if err != nil {
			return err
		}
		if _, err := y.group(name, root.Content[i+1]); err != nil {
			return err
		}
	}
	return nil
}

type yamlInventory struct {
	inv  *Inventory
	src  string
	json bool
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node, jsonMode bool) bool {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return false
	}
	v, err := yamlScalar(n, "", jsonMode)
	return err == nil && v == nil
}

func (y *yamlInventory) key(n *yaml.Node) (string, error) {
	v, err := yamlValue(deref(n), y.src, y.json)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("line %d: %v must be a string (quote it)", n.Line, pyStr(v))
	}
	return s, nil
}

// mapping returns a section's key/value nodes: a string is {string: null}.
func (y *yamlInventory) mapping(group, section string, n *yaml.Node) ([]*yaml.Node, error) {
	n = deref(n)
	switch {
	case isNull(n, y.json):
		return nil, nil
	case n.Kind == yaml.MappingNode:
		return n.Content, nil
	case n.Kind == yaml.ScalarNode:
		if v, _ := yamlScalar(n, y.src, y.json); v != nil {
			if _, ok := v.(string); ok {
				return []*yaml.Node{n, {Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}}, nil
			}
		}
	}
	return nil, fmt.Errorf("line %d: invalid %q entry for %q group, requires a dictionary", n.Line, section, group)
}

func (y *yamlInventory) group(name string, n *yaml.Node) (string, error) {
	n = deref(n)
	if !isNull(n, y.json) && n.Kind != yaml.MappingNode {
		return name, nil // Ansible warns and skips it
	}
	if name == "" {
		return "", errors.New("invalid empty group name")
	}
	y.inv.group(name)
	if isNull(n, y.json) {
		return name, nil
	}
	sections := map[string][]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if k == "vars" || k == "children" || k == "hosts" {
			c, err := y.mapping(name, k, n.Content[i+1])
			if err != nil {
				return "", err
			}
			sections[k] = c
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		c := sections[k]
		switch k {
		case "vars":
			for j := 0; j+1 < len(c); j += 2 {
				key, err := y.key(c[j])
				if err != nil {
					return "", err
				}
				v, err := yamlValue(c[j+1], y.src, y.json)
				if err != nil {
					return "", err
				}
				if err := y.inv.setGroupVar(name, key, v); err != nil {
					return "", err
				}
			}
		case "children":
			for j := 0; j+1 < len(c); j += 2 {
				sub, err := y.key(c[j])
				if err != nil {
					return "", err
				}
				if sub, err = y.group(sub, c[j+1]); err != nil {
					return "", err
				}
				if _, ok := y.inv.groups[sub]; !ok {
					return "", fmt.Errorf("%s is not a known host nor group", sub)
				}
				if err := y.inv.AddChild(name, sub); err != nil {
					return "", err
				}
			}
		case "hosts":
			for j := 0; j+1 < len(c); j += 2 {
				pattern, err := y.key(c[j])
				if err != nil {
					return "", fmt.Errorf("host pattern must be a string: %v", err)
				}
				names, port, err := y.inv.addr.expandHostPattern(pattern)
				if err != nil {
					return "", err
				}
				var vars map[string]any
				if !isNull(c[j+1], y.json) {
					v, err := yamlValue(c[j+1], y.src, y.json)
					if err != nil {
						return "", err
					}
					m, ok := v.(map[string]any)
					if !ok {
						return "", fmt.Errorf("host %s: expected a dictionary of variables", pattern)
					}
					vars = m
				}
				for _, h := range names {
					if err := y.inv.addHost(name, h, port); err != nil {
						return "", err
					}
					for k, v := range vars {
						y.inv.hosts[h].Vars[k] = v
					}
				}
			}
		}
	}
	return name, nil
}

// ---- INI inventories ----

var (
	iniSection   = regexp.MustCompile(`^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$`)
	iniGroupName = regexp.MustCompile(`^([^:\]\s]+)\s*(?:#.*)?$`)
)

type pending struct {
	line    int
	state   string
	parents []string
}

// parseINI is the ini inventory plugin.
func (inv *Inventory) parseINI(src string, b []byte) error {
	pendings := map[string]*pending{}
	var pendingOrder []string
	group, state := "ungrouped", "hosts"
	fail := func(n int, format string, a ...any) error {
		return fmt.Errorf("%s:%d: %s", src, n, fmt.Sprintf(format, a...))
	}
	var addPending func(g string) error
	addPending = func(g string) error {
		for _, p := range pendings[g].parents {
			if err := inv.AddChild(p, g); err != nil {
				return err
			}
			if pp, ok := pendings[p]; ok && pp.state == "children" {
				if err := addPending(p); err != nil {
					return err
				}
			}
		}
		delete(pendings, g)
		return nil
	}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	for i, line := range lines {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if m := iniSection.FindStringSubmatch(line); m != nil {
			group, state = m[1], m[2]
			if state == "" {
				state = "hosts"
			}
			if state != "hosts" && state != "children" && state != "vars" {
				return fail(n, "section [%s:%s] has unknown type: %s", m[1], m[2], state)
			}
			if _, ok := inv.groups[group]; !ok {
				if _, isPending := pendings[group]; state == "vars" && !isPending {
					pendings[group] = &pending{line: n, state: "vars"}
					pendingOrder = append(pendingOrder, group)
				}
				inv.group(group)
			}
			if p, ok := pendings[group]; ok && state != "vars" {
				if p.state == "children" {
					if err := addPending(group); err != nil {
						return fail(n, "%v", err)
					}
				} else {
					delete(pendings, group)
				}
			}
			continue
		}
		if line[0] == '[' && line[len(line)-1] == ']' {
			return fail(n, "invalid section entry: '%s'. Please make sure that there are no spaces in the section entry, and that there are no other invalid characters", line)
		}
		switch state {
		case "hosts":
			tokens, err := splitShell(line)
			if err != nil {
				return fail(n, "error parsing host definition '%s': %v", line, err)
			}
			if len(tokens) == 0 {
				continue
			}
			names, port, err := inv.addr.expandHostPattern(tokens[0])
			if err != nil {
				return fail(n, "%v", err)
			}
			if strings.HasSuffix(strings.TrimSpace(tokens[0]), ":") && port < 0 {
				return fail(n, "invalid host pattern '%s' supplied, ending in ':' is not allowed, this character is reserved to provide a port", tokens[0])
			}
			type kv struct {
				k string
				v any
			}
			var vars []kv
			for _, t := range tokens[1:] {
				k, v, ok := strings.Cut(t, "=")
				if !ok {
					return fail(n, "expected key=value host variable assignment, got: %s", t)
				}
				vars = append(vars, kv{k, iniValue(v)})
			}
			for _, h := range names {
				if strings.TrimSpace(h) == "---" {
					return fail(n, "invalid host pattern '%s' supplied, '---' is normally a sign this is a YAML file", tokens[0])
				}
				if err := inv.addHost(group, h, port); err != nil {
					return fail(n, "%v", err)
				}
				for _, x := range vars {
					inv.hosts[h].Vars[x.k] = x.v
				}
			}
		case "vars":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return fail(n, "expected key=value, got: %s", line)
			}
			if err := inv.setGroupVar(group, strings.TrimSpace(k), iniValue(strings.TrimSpace(v))); err != nil {
				return fail(n, "%v", err)
			}
		case "children":
			m := iniGroupName.FindStringSubmatch(line)
			if m == nil {
				return fail(n, "expected group name, got: %s", line)
			}
			child := m[1]
			if _, ok := inv.groups[child]; !ok {
				if p, ok := pendings[child]; ok {
					p.parents = append(p.parents, group)
				} else {
					pendings[child] = &pending{line: n, state: "children", parents: []string{group}}
					pendingOrder = append(pendingOrder, child)
				}
			} else if err := inv.AddChild(group, child); err != nil {
				return fail(n, "%v", err)
			}
		}
	}
	for _, g := range pendingOrder {
		p, ok := pendings[g]
		if !ok {
			continue
		}
		if p.state == "vars" {
			return fail(p.line, "section [%s:vars] not valid for undefined group: %s", g, g)
		}
		return fail(p.line, "section [%s:children] includes undefined group: %s", p.parents[len(p.parents)-1], g)
	}
	return nil
}

// iniValue is the INI plugin's _parse_value: a Python literal if it is
// one, else the string.
func iniValue(s string) any {
	if v, ok := pyLiteral(s); ok {
		return v
	}
	return s
}

// splitShell splits a line as Python's shlex.split(comments=True).
func splitShell(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in := false // a token has started (maybe empty and quoted)
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q == '\'':
			if c == q {
				q = 0
			} else {
				cur.WriteByte(c)
			}
		case q == '"':
			switch {
			case c == q:
				q = 0
			case c == '\\' && i+1 < len(s):
				if s[i+1] == '"' || s[i+1] == '\\' {
					i++
					cur.WriteByte(s[i])
				} else {
					cur.WriteByte(c)
				}
			default:
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			q, in = c, true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("no escaped character")
			}
			i++
			cur.WriteByte(s[i])
			in = true
		case c == '#':
			i = len(s)
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
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
		return nil, errors.New("no closing quotation")
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}
