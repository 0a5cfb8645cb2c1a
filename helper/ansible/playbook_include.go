package ansible

// import_tasks, include_tasks and import_playbook as ansible-core 2.14
// reads them: an import is replaced, when the playbook is loaded, by the
// file's blocks under the import's keywords; an include is a task that
// adds the file's blocks to the hosts that run it (the file is read, and
// refused or rejected, with the playbook, so a bad one stops the run
// before anything runs).

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// maxIncludeDepth bounds nested imports and includes (a file that
// includes itself).
const maxIncludeDepth = 32

// includePath finds an included file as Ansible does for a playbook's
// tasks: beside the file that names it, then beside the playbook.
func (l *pbLoader) includePath(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	p := filepath.Join(filepath.Dir(l.file), name)
	if _, err := os.Stat(p); err == nil || l.root == "" {
		return p
	}
	if q := filepath.Join(filepath.Dir(l.root), name); fileExists(q) {
		return q
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// readIncluded parses an included file with a loader of its own.
func (l *pbLoader) readIncluded(at *yaml.Node, what, name string) (*pbLoader, *yaml.Node, error) {
	if l.depth >= maxIncludeDepth {
		return nil, nil, l.syntax(at, "%s: more than %d nested imports and includes (does %s include itself?)", what, maxIncludeDepth, name)
	}
	path := l.includePath(name)
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist) {
			return nil, nil, l.syntax(at, "Could not find or access '%s' on the Ansible Controller (%s)", path, what)
		}
		return nil, nil, l.syntax(at, "%s %s: %v", what, path, err)
	}
	abs, _ := filepath.Abs(path)
	root := l.root
	if root == "" {
		root = l.file
	}
	sub := &pbLoader{depth: l.depth + 1, file: abs, root: root, implicit: l.implicit, jsonMode: json.Valid(b), templar: l.templar}
	doc, err := sub.parse(b)
	if err != nil {
		return nil, nil, err
	}
	return sub, doc, nil
}

// include reads the file of an import_tasks or include_tasks task.
func (l *pbLoader) include(t *Task, es []entry) error {
	at := &yaml.Node{Line: t.Line}
	for _, e := range es {
		switch e.key {
		case "loop", "loop_control", "with_items":
			if t.Module == "import_tasks" {
				return l.syntax(e.k, "You cannot use loops on 'import_tasks' statements. You should use 'include_tasks' instead.")
			}
			return l.refuse(e.k, "a loop on include_tasks", "ops play includes a file once per host")
		case "register", "until", "retries", "delay", "changed_when", "failed_when", "run_once":
			return l.refuse(e.k, e.key+" on "+t.Module, "ops play takes name, when, tags, vars, become, ignore_errors and check_mode there")
		}
	}
	if IsTemplate(t.FreeForm) {
		return l.refuse(at, "a templated "+t.Module+" file", "ops play reads included files before running: name the file")
	}
	sub, doc, err := l.readIncluded(at, t.Module, t.FreeForm)
	if err != nil {
		return err
	}
	t.IncludePath = sub.file
	if doc == nil {
		return nil
	}
	if doc.Kind != yaml.SequenceNode {
		return sub.syntax(doc, "included task files must contain a list of tasks")
	}
	t.Include, err = sub.blocks(doc, "tasks")
	return err
}

// importBlock gives an import_tasks task's place to a block of its file's
// blocks carrying the import's keywords (Ansible: the blocks' parent is
// the static TaskInclude); other tasks are returned as they are.
func importBlock(t *Task) *Task {
	if t.Module != "import_tasks" {
		return t
	}
	b := *t
	b.Module, b.Action, b.FreeForm, b.Args = "", "", "", nil
	b.IsBlock, b.Implicit = true, true
	b.Block, b.Include = t.Include, nil
	return &b
}

// importPlaybook reads an import_playbook entry's plays.
func (l *pbLoader) importPlaybook(n *yaml.Node, es []entry) ([]*Play, error) {
	var name string
	var tags []string
	for _, e := range es {
		switch e.key {
		case "import_playbook", "ansible.builtin.import_playbook", "ansible.legacy.import_playbook":
			v, err := l.value(e.v)
			if err != nil {
				return nil, err
			}
			s, ok := v.(string)
			if !ok || s == "" {
				return nil, l.syntax(e.v, "import_playbook parameters cannot be mixed with 'vars' entries for import statements")
			}
			if IsTemplate(s) {
				return nil, l.refuse(e.v, "a templated import_playbook", "ops play reads playbooks before running: name the file")
			}
			name = s
		case "name":
		case "tags":
			var err error
			if tags, err = l.tags(e.v); err != nil {
				return nil, err
			}
		case "include":
			return nil, l.syntax(e.k, "'include' is not a valid attribute for a PlaybookInclude (use import_playbook)")
		case "vars", "when":
			return nil, l.refuse(e.k, e.key+" on import_playbook", "put it on the imported plays")
		default:
			return nil, l.syntax(e.k, "'%s' is not a valid attribute for a PlaybookInclude", e.key)
		}
	}
	sub, doc, err := l.readIncluded(n, "import_playbook", name)
	if err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, sub.syntax(n, "Empty playbook, nothing to do")
	}
	if doc.Kind != yaml.SequenceNode {
		return nil, sub.syntax(doc, "A playbook must be a list of plays, got a %s instead", sub.pyType(doc))
	}
	plays, err := sub.plays(doc)
	if err != nil {
		return nil, err
	}
	for _, p := range plays {
		for _, x := range tags {
			if !contains(p.Tags, x) {
				p.Tags = append(p.Tags, x)
			}
		}
	}
	return plays, nil
}
