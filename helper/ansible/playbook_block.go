package ansible

// Blocks as ansible-core 2.14 loads them: a play's task list is a list of
// blocks (consecutive bare tasks make one implicit block,
// load_list_of_blocks), a block's sections are lists of tasks and nested
// blocks (load_list_of_tasks), and a task's inheritable keywords come
// from its enclosing blocks (Task._get_parent_attribute: `when`
// prepended, `tags` extended, `vars` merged, the rest from the nearest
// that sets them).

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// blockKeys are the keys that make a mapping a block (Block.is_block).
var blockKeys = map[string]bool{"block": true, "rescue": true, "always": true}

func isBlockNode(n *yaml.Node) bool {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i < len(n.Content); i += 2 {
		if blockKeys[n.Content[i].Value] {
			return true
		}
	}
	return false
}

// blockRefused are the keys a Block takes in Ansible that ops play does
// not run; any other key that is not a block keyword is invalid.
var blockRefused = map[string]string{
	"delegate_to": "delegation", "delegate_facts": "delegation", "notify": "handlers",
	"diff": "diff mode", "connection": "connections other than ssh", "port": "a block-level port",
	"remote_user": "a block-level remote_user", "no_log": "no_log", "throttle": "throttle",
	"debugger": "the task debugger", "module_defaults": "module_defaults", "collections": "collections",
	"become_method": "become methods other than sudo", "become_flags": "become_flags", "become_exe": "become_exe",
}

// blocks reads a play's pre_tasks, tasks or post_tasks.
func (l *pbLoader) blocks(n *yaml.Node, section string) ([]*Task, error) {
	items, err := l.taskItems(n, section)
	if err != nil || items == nil {
		return nil, err
	}
	var out []*Task
	var implicit *Task
	for _, c := range items {
		if isBlockNode(c) {
			implicit = nil
			b, err := l.block(c)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
			continue
		}
		t, err := l.task(c)
		if err != nil {
			return nil, err
		}
		t = importBlock(t)
		if implicit == nil {
			implicit = &Task{File: l.file, Line: t.Line, IsBlock: true, Implicit: true}
			out = append(out, implicit)
		}
		implicit.Block = append(implicit.Block, t)
	}
	return out, nil
}

// taskItems are the entries of a task list (nil for an empty one).
func (l *pbLoader) taskItems(n *yaml.Node, section string) ([]*yaml.Node, error) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	v, err := l.value(n)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, l.syntax(n, "A malformed block was encountered while loading %s: %s should be a list or None", section, pyRepr(v))
	}
	return n.Content, nil
}

// taskList reads a block's section: tasks and nested blocks.
func (l *pbLoader) taskList(n *yaml.Node, section string) ([]*Task, error) {
	items, err := l.taskItems(n, section)
	if err != nil {
		return nil, err
	}
	var out []*Task
	for _, c := range items {
		var t *Task
		if isBlockNode(c) {
			t, err = l.block(c)
		} else {
			t, err = l.task(c)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, importBlock(t))
	}
	return out, nil
}

func (l *pbLoader) block(n *yaml.Node) (*Task, error) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	es, err := l.entries(n)
	if err != nil {
		return nil, err
	}
	b := &Task{File: l.file, Line: n.Line, IsBlock: true}
	for _, e := range es {
		if why, ok := blockRefused[e.key]; ok {
			return nil, l.refuse(e.k, e.key, "ops play does not implement "+why)
		}
	}
	for _, e := range es {
		switch e.key {
		case "block", "rescue", "always":
			ts, err := l.taskList(e.v, "a block")
			if err != nil {
				return nil, err
			}
			switch e.key {
			case "block":
				b.Block = ts
			case "rescue":
				b.Rescue = ts
			default:
				b.Always = ts
			}
			continue
		}
		ok, err := l.keyword(b, e, "Block")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, l.syntax(n, "'%s' is not a valid attribute for a Block", e.key)
		}
		if err := l.scanNode(e.v, e.key == "when"); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// keyword reads a keyword tasks and blocks share; false when key is not
// one.
func (l *pbLoader) keyword(t *Task, e entry, what string) (bool, error) {
	var err error
	switch e.key {
	case "name":
		t.Name, err = l.str(e.v)
	case "when":
		t.When, err = l.conditions(e.v)
	case "ignore_errors":
		var v any
		if v, err = l.value(e.v); err != nil {
			return true, err
		}
		if s, ok := v.(string); ok && IsTemplate(s) {
			t.IgnoreErrors = s
		} else if v != nil {
			b, ok := pyBoolean(v)
			if !ok {
				return true, l.syntax(e.v, "the field 'ignore_errors' has an invalid value (%s), and could not be converted to an bool", pyStr(v))
			}
			t.IgnoreErrors = b
		}
	case "tags":
		t.Tags, err = l.tags(e.v)
	case "environment":
		t.Environment, err = l.value(e.v)
	case "timeout":
		var v any
		if v, err = l.value(e.v); err != nil {
			return true, err
		}
		switch v := v.(type) {
		case nil:
		case int:
			t.Timeout = v
		case string:
			if IsTemplate(v) {
				return true, l.refuse(e.v, "a templated timeout", "ops play reads timeout before running")
			}
			i, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return true, l.syntax(e.v, "the field 'timeout' has an invalid value (%s), and could not be converted to an int", v)
			}
			t.Timeout = i
		default:
			return true, l.syntax(e.v, "the field 'timeout' has an invalid value (%s), and could not be converted to an int", pyStr(v))
		}
	case "become":
		t.Become, err = l.boolean(e, "become")
	case "become_user":
		t.BecomeUser, err = l.str(e.v)
	case "run_once":
		var b *bool
		b, err = l.boolean(e, "run_once")
		t.RunOnce = b != nil && *b
	case "vars":
		t.Vars, err = l.vars(e.v, what)
	case "check_mode":
		t.CheckMode, err = l.boolean(e, "check_mode")
	case "any_errors_fatal":
		t.AnyErrorsFatal, err = l.boolean(e, "any_errors_fatal")
	case "ignore_unreachable":
		t.IgnoreUnreachable, err = l.boolean(e, "ignore_unreachable")
	default:
		return false, nil
	}
	if t.given == nil {
		t.given = map[string]bool{}
	}
	t.given[e.key] = true
	return true, err
}

// resolve gives every task under the blocks its inherited keywords.
func resolveBlocks(blocks []*Task) {
	for _, b := range blocks {
		resolve(b, nil)
	}
}

func resolve(t, parent *Task) {
	t.Parent = parent
	if parent != nil {
		p := parent
		if len(p.When) > 0 {
			t.When = append(append([]string(nil), p.When...), t.When...)
		}
		if len(p.Tags) > 0 {
			tags := append([]string(nil), t.Tags...)
			for _, x := range p.Tags {
				if !contains(tags, x) {
					tags = append(tags, x)
				}
			}
			t.Tags = tags
		}
		if len(p.Vars) > 0 {
			vars := make(map[string]any, len(p.Vars)+len(t.Vars))
			for k, v := range p.Vars {
				vars[k] = v
			}
			for k, v := range t.Vars {
				vars[k] = v
			}
			t.Vars = vars
		}
		if t.Become == nil {
			t.Become = p.Become
		}
		if t.BecomeUser == "" {
			t.BecomeUser = p.BecomeUser
		}
		if t.IgnoreErrors == nil {
			t.IgnoreErrors = p.IgnoreErrors
		}
		if t.Environment == nil {
			t.Environment = p.Environment
		}
		if !t.given["timeout"] {
			t.Timeout = p.Timeout
		}
		if !t.given["run_once"] {
			t.RunOnce = p.RunOnce
		}
		if t.CheckMode == nil {
			t.CheckMode = p.CheckMode
		}
		if t.AnyErrorsFatal == nil {
			t.AnyErrorsFatal = p.AnyErrorsFatal
		}
		if t.IgnoreUnreachable == nil {
			t.IgnoreUnreachable = p.IgnoreUnreachable
		}
	}
	if !t.IsBlock {
		// Task.get_vars drops these two (after the blocks' are merged).
		delete(t.Vars, "tags")
		delete(t.Vars, "when")
		if len(t.Include) > 0 {
			// A dynamic include's blocks inherit from the blocks around
			// the include, not from the include itself (it is not
			// statically loaded), but for its vars.
			var p Task
			if parent != nil {
				p = *parent
			}
			p.Vars = t.Vars
			for _, b := range t.Include {
				resolve(b, &p)
			}
		}
		return
	}
	for _, sec := range [][]*Task{t.Block, t.Rescue, t.Always} {
		for _, c := range sec {
			resolve(c, t)
		}
	}
}

// leafTasks are the tasks under blocks in the order Block.get_tasks
// gives them: each block's block, rescue, then always section.
func leafTasks(blocks []*Task) []*Task {
	var out []*Task
	var walk func(t *Task)
	walk = func(t *Task) {
		if !t.IsBlock {
			out = append(out, t)
			return
		}
		for _, sec := range [][]*Task{t.Block, t.Rescue, t.Always} {
			for _, c := range sec {
				walk(c)
			}
		}
	}
	for _, b := range blocks {
		walk(b)
	}
	return out
}

// filterBlocks is Block.filter_tagged_tasks over the blocks: tasks the
// tags do not select are dropped, and blocks left with no task.
func filterBlocks(blocks []*Task, keep func(*Task) bool) []*Task {
	var out []*Task
	for _, b := range blocks {
		if nb := filterBlock(b, keep); nb.hasTasks() {
			out = append(out, nb)
		}
	}
	return out
}

func filterBlock(b *Task, keep func(*Task) bool) *Task {
	nb := *b
	sec := func(list []*Task) []*Task {
		var out []*Task
		for _, t := range list {
			if t.IsBlock {
				if f := filterBlock(t, keep); f.hasTasks() {
					out = append(out, f)
				}
			} else if keep(t) {
				out = append(out, t)
			}
		}
		return out
	}
	nb.Block, nb.Rescue, nb.Always = sec(b.Block), sec(b.Rescue), sec(b.Always)
	return &nb
}

func (t *Task) hasTasks() bool { return len(t.Block)+len(t.Rescue)+len(t.Always) > 0 }
