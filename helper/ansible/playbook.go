package ansible

// Playbooks for `ops play`: the subset of ansible-playbook 2.14 that ops
// runs natively (raw, script, debug and fail tasks, linear strategy, no
// facts), parsed with file:line, and everything else refused before any
// connection, with the same reading of each keyword as ansible-core's
// Play, Task, Taggable and ModuleArgsParser.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Playbook is a playbook file: its plays in order.
type Playbook struct {
	File  string
	Plays []*Play
}

// Play is one play of the subset.
type Play struct {
	File string
	Line int
	Name string
	// Hosts is the pattern (a YAML list is joined with ",", as Ansible
	// shows it).
	Hosts             string
	Become            *bool
	BecomeUser        string
	RemoteUser        string
	Vars              map[string]any // raw: templated by the runner
	VarsFiles         []string       // as written, relative to the playbook's directory
	GatherFacts       *bool          // as written
	Serial            []string       // each "N" or "N%"; empty: all hosts at once
	MaxFailPercentage *float64
	AnyErrorsFatal    bool
	Tags              []string
	Strategy          string // "" or "linear"
	CheckMode         *bool  // the play's check_mode (nil: -C)
	PreTasks          []*Task
	Tasks             []*Task
	PostTasks         []*Task
}

// Task is one task of the subset.
type Task struct {
	File string
	Line int
	Name string
	// Module is "raw", "script", "debug" or "fail" (ansible.builtin.X and
	// ansible.legacy.X normalised); Action is the module as written
	// (what --list-tasks shows for a task without a name).
	Module string
	Action string
	// FreeForm is raw's command, script's "path arg1 arg2".
	FreeForm string
	// Args are the module's other arguments: script's creates, removes,
	// chdir, executable, decrypt; raw's executable; debug's msg, var,
	// verbosity; fail's msg.
	Args         map[string]any
	Become       *bool
	BecomeUser   string
	When         []string // bare Jinja expressions; booleans as "True"/"False", null as "" (true); see Templar.Conditions
	Register     string
	ChangedWhen  []string // nil when absent
	FailedWhen   []string // nil when absent
	IgnoreErrors any      // nil, a bool or a template string
	Loop         any      // nil, a list or a template string
	// LoopWith is the lookup of a with_ loop ("items"), "" for loop.
	LoopWith string
	// LoopControl is the task's loop_control (nil: none written).
	LoopControl *LoopControl
	Tags        []string
	Environment any // as written (ignored on raw, with Ansible's warning)
	Timeout     int
	// Until are the until conditions (nil: no retries); Retries is the
	// retries keyword (nil when written null: Ansible's 3 attempts),
	// Delay the seconds between attempts.
	Until   []string
	Retries *int
	Delay   int
	RunOnce bool
	// Vars are the task's vars (raw: templated when used), above the
	// play's and below set_fact, registered and extra vars.
	Vars map[string]any
	// CheckMode is the task's check_mode (nil: the play's, then -C).
	CheckMode *bool
	// AnyErrorsFatal and IgnoreUnreachable are the keywords (nil: the
	// enclosing block's, then the play's).
	AnyErrorsFatal    *bool
	IgnoreUnreachable *bool

	// A block (IsBlock): its sections, each a list of tasks and blocks;
	// its keywords are in the fields above and are inherited by what it
	// holds (LoadPlaybook resolves them into every task). Implicit is
	// the block Ansible makes of consecutive bare tasks.
	IsBlock               bool
	Implicit              bool
	Block, Rescue, Always []*Task
	Parent                *Task
	// Include are the blocks of an import_tasks or include_tasks file
	// (loaded with the playbook), IncludePath its path.
	Include     []*Task
	IncludePath string
	// given are the keywords written on this task or block.
	given map[string]bool
}

// RefusedError is a construct of valid Ansible that ops play does not
// run.
type RefusedError struct {
	File      string
	Line      int
	Construct string
	Why       string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s:%d: %s is not supported by ops play (%s): run it with ops remote-container ansible-playbook",
		e.File, e.Line, e.Construct, e.Why)
}

// SyntaxError is what ansible-playbook --syntax-check (or loading the
// playbook) would reject.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// LoadPlaybook reads a playbook. implicitGathering says facts are
// gathered when a play does not say (ansible.cfg's gathering / the
// ANSIBLE_GATHERING default "implicit"): a play must then say
// `gather_facts: false`. Errors are *SyntaxError, *RefusedError, or an
// error naming the file for a file that cannot be read.
func LoadPlaybook(path string, implicitGathering bool) (*Playbook, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("playbook %s: %v", path, err)
	}
	l := &pbLoader{file: path, implicit: implicitGathering, jsonMode: json.Valid(b), templar: NewTemplar()}
	doc, err := l.parse(b)
	if err != nil {
		return nil, err
	}
	pb := &Playbook{File: path}
	if doc == nil {
		return nil, &SyntaxError{File: path, Msg: "Empty playbook, nothing to do"}
	}
	if doc.Kind != yaml.SequenceNode {
		return nil, l.syntax(doc, "A playbook must be a list of plays, got a %s instead", l.pyType(doc))
	}
	if len(doc.Content) == 0 {
		return nil, &SyntaxError{File: path, Line: doc.Line, Msg: "A playbook must contain at least one play"}
	}
	if pb.Plays, err = l.plays(doc); err != nil {
		return nil, err
	}
	return pb, nil
}

// plays reads a playbook's entries: plays, and import_playbook's.
func (l *pbLoader) plays(doc *yaml.Node) ([]*Play, error) {
	var out []*Play
	for _, n := range doc.Content {
		for n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n.Kind == yaml.MappingNode {
			es, err := l.entries(n)
			if err != nil {
				return nil, err
			}
			imported := false
			for _, e := range es {
				switch e.key {
				case "import_playbook", "ansible.builtin.import_playbook", "ansible.legacy.import_playbook", "include":
					imported = true
				}
			}
			if imported {
				ps, err := l.importPlaybook(n, es)
				if err != nil {
					return nil, err
				}
				out = append(out, ps...)
				continue
			}
		}
		p, err := l.play(n)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

type pbLoader struct {
	depth    int    // of imports and includes
	root     string // the playbook, for a loader of an included file
	file     string
	implicit bool
	jsonMode bool
	templar  *Templar
}

var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): `)

func (l *pbLoader) parse(b []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		msg := err.Error()
		line := 0
		if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = msg[len(m[0]):]
		}
		msg = strings.TrimPrefix(msg, "yaml: ")
		return nil, &SyntaxError{File: l.file, Line: line, Msg: "YAML syntax error: " + msg}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

func (l *pbLoader) syntax(n *yaml.Node, format string, args ...any) error {
	return &SyntaxError{File: l.file, Line: n.Line, Msg: fmt.Sprintf(format, args...)}
}

func (l *pbLoader) refuse(n *yaml.Node, construct, why string) error {
	return &RefusedError{File: l.file, Line: n.Line, Construct: construct, Why: why}
}

// value is the node's value as Ansible's loader gives it (YAML 1.1).
func (l *pbLoader) value(n *yaml.Node) (any, error) {
	v, err := yamlValue(n, l.file, l.jsonMode)
	if err != nil {
		return nil, &SyntaxError{File: l.file, Line: n.Line, Msg: strings.TrimPrefix(err.Error(), l.file+": ")}
	}
	return v, nil
}

func (l *pbLoader) pyType(n *yaml.Node) string {
	v, _ := l.value(n)
	switch v.(type) {
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	case string, Unsafe:
		return "str"
	case int, *big.Int:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case nil:
		return "NoneType"
	}
	return fmt.Sprintf("%T", v)
}

// entry is one key of a mapping, the later of duplicated keys winning
// (Ansible warns and keeps the last).
type entry struct {
	key      string
	k, v     *yaml.Node
	position int
}

func (l *pbLoader) entries(n *yaml.Node) ([]entry, error) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	var out []entry
	idx := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		for v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return nil, l.syntax(k, "a mapping key must be a string")
		}
		if k.Value == "<<" {
			return nil, l.refuse(k, "a YAML merge key (<<)", "write the keys out")
		}
		if j, ok := idx[k.Value]; ok {
			out[j].k, out[j].v = k, v
			continue
		}
		idx[k.Value] = len(out)
		out = append(out, entry{key: k.Value, k: k, v: v, position: i})
	}
	return out, nil
}

// Keys of a play: what ops play honours, what it ignores (facts are never
// gathered), what it refuses (valid Ansible outside the subset).
var (
	playIgnored = map[string]bool{"gather_subset": true, "gather_timeout": true, "fact_path": true}
	playRefused = map[string]string{
		"roles":           "roles",
		"handlers":        "handlers (and notify)",
		"vars_prompt":     "prompts",
		"force_handlers":  "handlers",
		"order":           "host orders other than the inventory's",
		"diff":            "diff mode",
		"connection":      "connections other than ssh",
		"port":            "a play-level port",
		"environment":     "a play-level environment",
		"ignore_errors":   "a play-level ignore_errors",
		"no_log":          "no_log",
		"run_once":        "run_once",
		"throttle":        "throttle",
		"timeout":         "a play-level timeout",
		"debugger":        "the task debugger",
		"module_defaults": "module_defaults",
		"collections":     "collections",
		"become_method":   "become methods other than sudo",
		"become_flags":    "become_flags",
		"become_exe":      "become_exe",
	}
)

// pyIdentifier and pyKeywords are ansible.utils.vars.isidentifier: an
// ASCII Python identifier that is not a keyword.
var pyIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var pyKeywords = map[string]bool{"False": true, "None": true, "True": true, "and": true, "as": true,
	"assert": true, "async": true, "await": true, "break": true, "class": true, "continue": true,
	"def": true, "del": true, "elif": true, "else": true, "except": true, "finally": true, "for": true,
	"from": true, "global": true, "if": true, "import": true, "in": true, "is": true, "lambda": true,
	"nonlocal": true, "not": true, "or": true, "pass": true, "raise": true, "return": true, "try": true,
	"while": true, "with": true, "yield": true}

func isIdentifier(s string) bool { return pyIdentifier.MatchString(s) && !pyKeywords[s] }

func (l *pbLoader) play(n *yaml.Node) (*Play, error) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil, l.syntax(n, "A playbook must be a list of plays, got a list containing a %s instead", l.pyType(n))
	}
	es, err := l.entries(n)
	if err != nil {
		return nil, err
	}
	p := &Play{File: l.file, Line: n.Line}
	var hostsSet bool
	for _, e := range es {
		switch e.key {
		case "name":
			v, err := l.value(e.v)
			if err != nil {
				return nil, err
			}
			if v != nil {
				p.Name = pyStr(v)
			}
		case "hosts":
			hostsSet = true
			if p.Hosts, err = l.hosts(e.v); err != nil {
				return nil, err
			}
		case "become":
			if p.Become, err = l.boolean(e, "become"); err != nil {
				return nil, err
			}
		case "become_user":
			if p.BecomeUser, err = l.str(e.v); err != nil {
				return nil, err
			}
		case "remote_user":
			if p.RemoteUser, err = l.str(e.v); err != nil {
				return nil, err
			}
		case "vars":
			if p.Vars, err = l.vars(e.v, "Play"); err != nil {
				return nil, err
			}
		case "vars_files":
			if p.VarsFiles, err = l.varsFiles(e.v); err != nil {
				return nil, err
			}
		case "gather_facts":
			if p.GatherFacts, err = l.boolean(e, "gather_facts"); err != nil {
				return nil, err
			}
			if p.GatherFacts != nil && *p.GatherFacts {
				return nil, l.refuse(e.k, "gather_facts: "+e.v.Value, "ops play gathers no facts: add `gather_facts: false` to the play")
			}
		case "serial":
			if p.Serial, err = l.serial(e.v); err != nil {
				return nil, err
			}
		case "max_fail_percentage":
			if p.MaxFailPercentage, err = l.percent(e.v); err != nil {
				return nil, err
			}
		case "any_errors_fatal":
			b, err := l.boolean(e, "any_errors_fatal")
			if err != nil {
				return nil, err
			}
			p.AnyErrorsFatal = b != nil && *b
		case "tags":
			if p.Tags, err = l.tags(e.v); err != nil {
				return nil, err
			}
		case "check_mode":
			if p.CheckMode, err = l.boolean(e, "check_mode"); err != nil {
				return nil, err
			}
		case "strategy":
			s, err := l.str(e.v)
			if err != nil {
				return nil, err
			}
			switch s {
			case "", "linear", "ansible.builtin.linear", "ansible.legacy.linear":
				if s != "" {
					p.Strategy = "linear"
				}
			default:
				return nil, l.refuse(e.k, "strategy: "+s, "ops play runs the linear strategy only")
			}
		case "pre_tasks", "tasks", "post_tasks":
			ts, err := l.blocks(e.v, e.key)
			if err != nil {
				return nil, err
			}
			resolveBlocks(ts)
			switch e.key {
			case "pre_tasks":
				p.PreTasks = ts
			case "tasks":
				p.Tasks = ts
			default:
				p.PostTasks = ts
			}
		default:
			if playIgnored[e.key] {
				continue
			}
			if why, ok := playRefused[e.key]; ok {
				return nil, l.refuse(e.k, e.key, "ops play does not implement "+why)
			}
			return nil, l.syntax(e.k, "'%s' is not a valid attribute for a Play", e.key)
		}
	}
	if !hostsSet {
		return nil, l.syntax(n, "the field 'hosts' is required but was not set")
	}
	if p.GatherFacts == nil && l.implicit {
		return nil, l.refuse(n, "gathering facts (gather_facts absent, gathering=implicit)",
			"ops play gathers no facts: add `gather_facts: false` to the play")
	}
	if p.Name == "" {
		p.Name = p.Hosts
	}
	// Templates anywhere in the play's own keys (tasks are scanned as
	// they are loaded).
	for _, e := range es {
		switch e.key {
		case "pre_tasks", "tasks", "post_tasks":
			continue
		}
		if err := l.scanNode(e.v, false); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (l *pbLoader) hosts(n *yaml.Node) (string, error) {
	v, err := l.value(n)
	if err != nil {
		return "", err
	}
	switch v := v.(type) {
	case string:
		if v == "" {
			return "", l.syntax(n, "Hosts list cannot be empty. Please check your playbook")
		}
		return v, nil
	case []any:
		if len(v) == 0 {
			return "", l.syntax(n, "Hosts list cannot be empty. Please check your playbook")
		}
		parts := make([]string, len(v))
		for i, x := range v {
			switch x := x.(type) {
			case nil:
				return "", l.syntax(n, "Hosts list cannot contain values of 'None'. Please check your playbook")
			case string:
				parts[i] = x
			default:
				return "", l.syntax(n, "Hosts list contains an invalid host value: '%s'", pyStr(x))
			}
		}
		return strings.Join(parts, ","), nil
	case nil:
		return "", l.syntax(n, "Hosts list cannot be empty. Please check your playbook")
	case bool, int, float64, *big.Int, map[string]any:
		if !truthy(v) {
			return "", l.syntax(n, "Hosts list cannot be empty. Please check your playbook")
		}
	}
	return "", l.syntax(n, "Hosts list must be a sequence or string. Please check your playbook.")
}

// str is a string keyword (Ansible's isa='string': scalars are str()ed).
func (l *pbLoader) str(n *yaml.Node) (string, error) {
	v, err := l.value(n)
	if err != nil {
		return "", err
	}
	switch v := v.(type) {
	case nil:
		return "", nil
	case []any, map[string]any:
		return "", l.syntax(n, "the field has an invalid value (%s), and could not be converted to a string", pyRepr(v))
	}
	return pyStr(v), nil
}

// pyBoolean is ansible.module_utils.parsing.convert_bool.boolean (strict).
func pyBoolean(v any) (bool, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case int:
		if v == 0 || v == 1 {
			return v == 1, true
		}
	case float64:
		if v == 0 || v == 1 {
			return v == 1, true
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "y", "yes", "on", "1", "true", "t":
			return true, true
		case "n", "no", "off", "0", "false", "f":
			return false, true
		}
	}
	return false, false
}

func (l *pbLoader) boolean(e entry, key string) (*bool, error) {
	v, err := l.value(e.v)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok && IsTemplate(s) {
		return nil, l.refuse(e.v, "a templated "+key, "ops play reads "+key+" before running: write a boolean")
	}
	b, ok := pyBoolean(v)
	if !ok {
		return nil, l.syntax(e.v, "the field '%s' has an invalid value (%s), and could not be converted to an bool", key, pyStr(v))
	}
	return &b, nil
}

func (l *pbLoader) vars(n *yaml.Node, what string) (map[string]any, error) {
	v, err := l.value(n)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	add := func(m map[string]any) error {
		for k, x := range m {
			if !isIdentifier(k) {
				return l.syntax(n, "Invalid variable name in vars specified for %s: '%s' is not a valid variable name", what, k)
			}
			out[k] = x
		}
		return nil
	}
	switch v := v.(type) {
	case nil:
		return out, nil
	case map[string]any:
		return out, add(v)
	case []any:
		for _, x := range v {
			m, ok := x.(map[string]any)
			if !ok {
				return nil, l.syntax(n, "Vars in a %s must be specified as a dictionary, or a list of dictionaries", what)
			}
			if err := add(m); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, l.syntax(n, "Vars in a %s must be specified as a dictionary, or a list of dictionaries", what)
}

func (l *pbLoader) varsFiles(n *yaml.Node) ([]string, error) {
	v, err := l.value(n)
	if err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		var out []string
		for _, x := range v {
			switch x := x.(type) {
			case string:
				out = append(out, x)
			case []any:
				return nil, l.refuse(n, "a list of alternatives in vars_files", "name one file")
			default:
				return nil, l.syntax(n, "vars_files entries must be file names, got %s", pyRepr(x))
			}
		}
		return out, nil
	}
	return nil, l.syntax(n, "vars_files must be a file name or a list of them")
}

var serialRe = regexp.MustCompile(`^\s*[0-9]+(?:\.[0-9]*)?\s*%?\s*$`)

func (l *pbLoader) serial(n *yaml.Node) ([]string, error) {
	v, err := l.value(n)
	if err != nil {
		return nil, err
	}
	var items []any
	switch v := v.(type) {
	case nil:
		return nil, nil
	case []any:
		items = v
	default:
		items = []any{v}
	}
	var out []string
	for _, x := range items {
		switch x := x.(type) {
		case int:
			out = append(out, strconv.Itoa(x))
		case string:
			if IsTemplate(x) {
				return nil, l.refuse(n, "a templated serial", "ops play reads serial before running")
			}
			if !serialRe.MatchString(x) {
				return nil, l.syntax(n, "serial: %q is neither a number nor a percentage", x)
			}
			out = append(out, strings.ReplaceAll(x, " ", ""))
		default:
			return nil, l.syntax(n, "serial: %s is neither a number nor a percentage", pyRepr(x))
		}
	}
	return out, nil
}

func (l *pbLoader) percent(n *yaml.Node) (*float64, error) {
	v, err := l.value(n)
	if err != nil {
		return nil, err
	}
	var f float64
	switch v := v.(type) {
	case nil:
		return nil, nil
	case int:
		f = float64(v)
	case float64:
		f = v
	case string:
		if IsTemplate(v) {
			return nil, l.refuse(n, "a templated max_fail_percentage", "ops play reads it before running")
		}
		s := strings.TrimSpace(strings.ReplaceAll(v, "%", ""))
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, l.syntax(n, "the field 'max_fail_percentage' has an invalid value (%s), and could not be converted to a percent", v)
		}
		f = x
	default:
		return nil, l.syntax(n, "the field 'max_fail_percentage' has an invalid value (%s), and could not be converted to a percent", pyStr(v))
	}
	return &f, nil
}

// tags is Taggable._load_tags: a list as is, a string split on commas.
func (l *pbLoader) tags(n *yaml.Node) ([]string, error) {
	v, err := l.value(n)
	if err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		parts := strings.Split(v, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			switch x.(type) {
			case string, int, *big.Int:
				out = append(out, pyStr(x))
			default:
				return nil, l.syntax(n, "the field 'tags' should be a list of (<class 'str'>, <class 'int'>), but the item '%s' is a %T", pyStr(x), x)
			}
		}
		return out, nil
	}
	return nil, l.syntax(n, "tags must be specified as a list")
}

// conditions is a when/changed_when/failed_when: a list, or a scalar as
// one element.
func (l *pbLoader) conditions(n *yaml.Node) ([]string, error) {
	v, err := l.value(n)
	if err != nil {
		return nil, err
	}
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	out := make([]string, 0, len(items))
	for _, x := range items {
		switch x.(type) {
		case map[string]any, []any:
			return nil, l.syntax(n, "a condition must be a string or a boolean, got %s", pyRepr(x))
		case nil:
			out = append(out, "") // Ansible: a None condition is true
			continue
		}
		out = append(out, pyStr(x))
	}
	return out, nil
}

// Task keywords: honoured, refused (valid Ansible outside the subset).
var (
	taskRefused = map[string]string{
		"delegate_to":     "delegation",
		"delegate_facts":  "delegation",
		"local_action":    "delegation",
		"notify":          "handlers",
		"listen":          "handlers",
		"diff":            "diff mode",
		"async":           "async tasks",
		"poll":            "async tasks",
		"connection":      "connections other than ssh",
		"port":            "a task-level port",
		"remote_user":     "a task-level remote_user",
		"no_log":          "no_log",
		"throttle":        "throttle",
		"debugger":        "the task debugger",
		"module_defaults": "module_defaults",
		"collections":     "collections",
		"become_method":   "become methods other than sudo",
		"become_flags":    "become_flags",
		"become_exe":      "become_exe",
	}
	supportedModules = map[string]bool{"raw": true, "script": true, "debug": true, "fail": true,
		"set_fact": true, "assert": true, "meta": true, "import_tasks": true, "include_tasks": true,
		"pause": true, "wait_for_connection": true}
	// metaActions are the meta tasks ops play runs; validMeta the others
	// ansible-core 2.14 knows.
	metaActions = map[string]bool{"noop": true, "end_host": true, "end_play": true}
	validMeta   = map[string]bool{"flush_handlers": true, "refresh_inventory": true, "clear_facts": true,
		"clear_host_errors": true, "end_batch": true, "role_complete": true, "reset_connection": true}
	// rawParamModules are RAW_PARAM_MODULES: the modules that take a free
	// form.
	rawParamModules = map[string]bool{"command": true, "win_command": true, "shell": true, "win_shell": true,
		"script": true, "raw": true, "include": true, "include_vars": true, "include_tasks": true,
		"include_role": true, "import_tasks": true, "import_role": true, "add_host": true, "group_by": true,
		"set_fact": true, "meta": true}
	freeFormModules = map[string]bool{"command": true, "win_command": true, "shell": true, "win_shell": true, "script": true, "raw": true}
)

const modulesOnly = "ops play runs raw, script, debug, fail, set_fact, assert, pause, wait_for_connection and meta (noop, end_host, end_play) tasks only"

// shortModule drops the ansible.builtin. / ansible.legacy. prefix.
func shortModule(name string) string {
	for _, p := range []string{"ansible.builtin.", "ansible.legacy."} {
		if strings.HasPrefix(name, p) {
			return name[len(p):]
		}
	}
	return name
}

func isTaskKeyword(k string) bool {
	switch k {
	case "name", "when", "register", "changed_when", "failed_when", "ignore_errors", "loop", "tags",
		"environment", "timeout", "become", "become_user", "args", "action",
		"until", "retries", "delay", "run_once", "vars", "check_mode", "any_errors_fatal", "ignore_unreachable",
		"loop_control":
		return true
	}
	_, refused := taskRefused[k]
	return refused
}

func (l *pbLoader) task(n *yaml.Node) (*Task, error) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		v, _ := l.value(n)
		return nil, l.syntax(n, "A malformed block was encountered while loading a block: %s", pyRepr(v))
	}
	es, err := l.entries(n)
	if err != nil {
		return nil, err
	}
	three := 3
	t := &Task{File: l.file, Line: n.Line, Retries: &three, Delay: 5}
	// The module: every key that is not a keyword (ModuleArgsParser).
	var modEntry *entry
	var actionEntry, argsEntry *entry
	for i := range es {
		e := &es[i]
		switch {
		case e.key == "action":
			actionEntry = e
		case e.key == "args":
			argsEntry = e
		case strings.HasPrefix(e.key, "with_"):
			if e.key != "with_items" {
				return nil, l.refuse(e.k, e.key, "ops play implements with_items only of the with_* loops: use loop")
			}
		case isTaskKeyword(e.key):
		default:
			if modEntry != nil || actionEntry != nil {
				first := ""
				if actionEntry != nil {
					first = "action"
				} else {
					first = modEntry.key
				}
				return nil, l.syntax(e.k, "conflicting action statements: %s, %s", first, e.key)
			}
			modEntry = e
		}
	}
	if actionEntry != nil && modEntry != nil {
		return nil, l.syntax(modEntry.k, "conflicting action statements: action, %s", modEntry.key)
	}
	for _, e := range es {
		if why, ok := taskRefused[e.key]; ok {
			return nil, l.refuse(e.k, e.key, "ops play does not implement "+why)
		}
	}
	if err := l.module(t, n, modEntry, actionEntry, argsEntry); err != nil {
		return nil, err
	}
	for _, e := range es {
		if ok, err := l.keyword(t, e, "Task"); err != nil {
			return nil, err
		} else if ok {
			continue
		}
		switch e.key {
		case "changed_when":
			if t.ChangedWhen, err = l.conditions(e.v); err != nil {
				return nil, err
			}
		case "failed_when":
			if t.FailedWhen, err = l.conditions(e.v); err != nil {
				return nil, err
			}
		case "register":
			if t.Register, err = l.str(e.v); err != nil {
				return nil, err
			}
		case "loop":
			if t.LoopWith != "" {
				return nil, l.refuse(e.k, "loop after with_items", "write one of them")
			}
			v, err := l.value(e.v)
			if err != nil {
				return nil, err
			}
			switch v := v.(type) {
			case nil:
			case []any:
				t.Loop = v
			case string:
				if !IsTemplate(v) {
					return nil, l.syntax(e.v, "Invalid data passed to 'loop', it requires a list, got this instead: %s", v)
				}
				t.Loop = v
			default:
				return nil, l.syntax(e.v, "Invalid data passed to 'loop', it requires a list, got this instead: %s", pyStr(v))
			}
		case "with_items":
			if t.Loop != nil {
				return nil, l.syntax(e.k, "duplicate loop in task: items")
			}
			v, err := l.value(e.v)
			if err != nil {
				return nil, err
			}
			if v == nil {
				return nil, l.syntax(e.k, "you must specify a value when using with_items")
			}
			t.Loop, t.LoopWith = v, "items"
		case "loop_control":
			if t.LoopControl, err = l.loopControl(e.v); err != nil {
				return nil, err
			}
		case "until":
			if t.Until, err = l.conditions(e.v); err != nil {
				return nil, err
			}
		case "retries", "delay":
			v, err := l.value(e.v)
			if err != nil {
				return nil, err
			}
			n, isNull, err := l.intKeyword(e, v)
			if err != nil {
				return nil, err
			}
			if e.key == "delay" {
				if !isNull {
					t.Delay = n
				}
			} else if isNull {
				t.Retries = nil
			} else {
				t.Retries = &n
			}
		}
	}
	if t.Module == "meta" {
		if err := l.metaTask(t, es); err != nil {
			return nil, err
		}
	}
	if t.Module == "import_tasks" || t.Module == "include_tasks" {
		if err := l.include(t, es); err != nil {
			return nil, err
		}
	}
	// Templates: conditions are bare expressions, the rest templates.
	for _, e := range es {
		if t.Module == "assert" && e.key == t.Action {
			if err := l.scanAssert(e.v); err != nil {
				return nil, err
			}
		}
		bare := e.key == "when" || e.key == "changed_when" || e.key == "failed_when" || e.key == "until"
		if err := l.scanNode(e.v, bare); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// module reads the task's action as ModuleArgsParser.parse does, then
// checks the module's arguments.
func (l *pbLoader) module(t *Task, n *yaml.Node, modEntry, actionEntry, argsEntry *entry) error {
	var action string
	var args map[string]any
	var at *yaml.Node
	extra := map[string]any{}
	if argsEntry != nil {
		v, err := l.value(argsEntry.v)
		if err != nil {
			return err
		}
		switch v := v.(type) {
		case map[string]any:
			extra = v
		case nil:
		case string:
			if IsTemplate(v) {
				return l.refuse(argsEntry.v, "templated args", "ops play reads module arguments before running")
			}
			return l.syntax(argsEntry.v, "Complex args containing variables cannot use bare variables (without Jinja2 delimiters), and must use the full variable style ('{{var_name}}')")
		default:
			return l.syntax(argsEntry.v, "Complex args must be a dictionary or variable string (\"{{var}}\").")
		}
	}
	switch {
	case actionEntry != nil:
		at = actionEntry.k
		v, err := l.value(actionEntry.v)
		if err != nil {
			return err
		}
		switch v := v.(type) {
		case string:
			words, err := pySplitArgs(v)
			if err != nil || len(words) == 0 {
				return l.syntax(actionEntry.v, "no module/action detected in task.")
			}
			action = strings.TrimSpace(words[0])
			args, err = pyParseKV(strings.Join(words[1:], " "), freeFormModules[shortModule(action)])
			if err != nil {
				return l.syntax(actionEntry.v, "%v", err)
			}
		case map[string]any:
			m, ok := v["module"].(string)
			if !ok {
				return l.syntax(actionEntry.v, "no module/action detected in task.")
			}
			words, err := pySplitArgs(m)
			if err != nil || len(words) == 0 {
				return l.syntax(actionEntry.v, "no module/action detected in task.")
			}
			action = strings.TrimSpace(words[0])
			args = map[string]any{}
			for k, x := range v {
				if k != "module" {
					args[k] = x
				}
			}
			more, err := pyParseKV(strings.Join(words[1:], " "), freeFormModules[shortModule(action)])
			if err != nil {
				return l.syntax(actionEntry.v, "%v", err)
			}
			for k, x := range more {
				args[k] = x
			}
		default:
			return l.syntax(actionEntry.v, "unexpected parameter type in action: %T", v)
		}
		if a, ok := args["args"]; ok {
			delete(args, "args")
			switch a := a.(type) {
			case string:
				m, err := pyParseKV(a, false)
				if err != nil {
					return l.syntax(actionEntry.v, "%v", err)
				}
				for k, x := range m {
					args[k] = x
				}
			case map[string]any:
				for k, x := range a {
					args[k] = x
				}
			}
		}
	case modEntry != nil:
		at = modEntry.k
		action = modEntry.key
		short := shortModule(action)
		if !supportedModules[short] {
			switch {
			case strings.HasPrefix(short, "import_") || strings.HasPrefix(short, "include"):
				return l.refuse(at, action, "ops play includes task files with import_tasks and include_tasks only")
			}
			return l.refuse(at, "module "+action, modulesOnly)
		}
		v, err := l.value(modEntry.v)
		if err != nil {
			return err
		}
		switch v := v.(type) {
		case map[string]any:
			args = v
		case string:
			if args, err = pyParseKV(v, freeFormModules[short]); err != nil {
				return l.syntax(modEntry.v, "%v", err)
			}
		case nil:
		default:
			return l.syntax(modEntry.v, "unexpected parameter type in action: <class '%s'>", l.pyType(modEntry.v))
		}
	default:
		return l.syntax(n, "no module/action detected in task.")
	}
	short := shortModule(action)
	if !supportedModules[short] {
		return l.refuse(at, "module "+action, modulesOnly)
	}
	final := map[string]any{}
	for k, x := range extra {
		final[k] = x
	}
	for k, x := range args {
		final[k] = x
	}
	if rp, ok := final["_raw_params"]; ok && pyStr(rp) != "" && !rawParamModules[short] {
		if s, ok := rp.(string); ok && IsTemplate(s) {
			return l.refuse(at, "templated module arguments", "ops play reads module arguments before running")
		}
		return l.syntax(at, "this task '%s' has extra params, which is only allowed in the following modules: %s", action,
			"ansible.builtin.meta, ansible.legacy.script, include_vars, include_role, ansible.legacy.include_role, shell, raw, command, win_shell, set_fact, import_role, …")
	}
	if short == "script" {
		if c, ok := final["cmd"]; ok {
			if pyStr(final["_raw_params"]) != "" && final["_raw_params"] != nil {
				return l.syntax(at, "The 'cmd' argument cannot be used when other raw parameters are specified. Please put everything in one or the other place.")
			}
			delete(final, "cmd")
			final["_raw_params"] = c
		}
	}
	t.Module, t.Action = short, action
	if rp, ok := final["_raw_params"]; ok {
		s, isStr := rp.(string)
		if !isStr {
			return l.syntax(at, "%s: the free form must be a string", action)
		}
		t.FreeForm = s
		delete(final, "_raw_params")
	}
	var allowed []string
	switch short {
	case "raw":
		allowed = []string{"executable"}
		if t.FreeForm == "" {
			return l.syntax(at, "raw: no command given")
		}
	case "script":
		allowed = []string{"creates", "removes", "chdir", "executable", "decrypt"}
		if strings.TrimSpace(t.FreeForm) == "" {
			return l.syntax(at, "script: no script given (a free form or cmd)")
		}
	case "debug":
		allowed = []string{"msg", "var", "verbosity"}
		_, msg := final["msg"]
		_, v := final["var"]
		if msg && v {
			return l.syntax(at, "'msg' and 'var' are incompatible options")
		}
	case "fail":
		allowed = []string{"msg"}
	case "import_tasks", "include_tasks":
		allowed = []string{"file"}
		if f, ok := final["file"]; ok {
			if t.FreeForm != "" {
				return l.syntax(at, "Invalid options for %s: _raw_params and file", short)
			}
			t.FreeForm = pyStr(f)
			delete(final, "file")
		}
		if _, ok := final["apply"]; ok {
			return l.refuse(at, short+"'s apply", "put the keywords on a block around the include")
		}
		if strings.TrimSpace(t.FreeForm) == "" {
			return l.syntax(at, "No file specified for %s", short)
		}
	case "assert":
		allowed = []string{"that", "fail_msg", "msg", "success_msg", "quiet"}
		if _, ok := final["that"]; !ok {
			return l.syntax(at, "conditional required in \"that\" string")
		}
	case "pause":
		allowed = []string{"minutes", "seconds", "prompt", "echo"}
		if err := l.pauseArgs(at, t, final); err != nil {
			return err
		}
	case "wait_for_connection":
		allowed = []string{"connect_timeout", "delay", "sleep", "timeout"}
		if err := l.waitArgs(at, final); err != nil {
			return err
		}
	case "set_fact":
		if t.FreeForm != "" {
			return l.refuse(at, "set_fact with a free form", "write key: value pairs")
		}
		delete(final, "cacheable") // Ansible pops it; ops play keeps no fact cache
		for k := range final {
			allowed = append(allowed, k)
		}
	case "meta":
		t.FreeForm = strings.TrimSpace(t.FreeForm)
		switch {
		case IsTemplate(t.FreeForm):
			return l.refuse(at, "a templated meta action", "ops play reads meta actions before running")
		case metaActions[t.FreeForm]:
		case validMeta[t.FreeForm]:
			return l.refuse(at, "meta: "+t.FreeForm, "ops play runs meta noop, end_host and end_play only")
		default:
			return l.syntax(at, "invalid meta action requested: %s", t.FreeForm)
		}
	}
	for k := range final {
		if slices.Contains(allowed, k) {
			continue
		}
		if short == "debug" || short == "fail" || short == "assert" || short == "meta" || short == "pause" || short == "wait_for_connection" {
			return l.syntax(at, "Invalid options for %s: %s", short, k)
		}
		return l.refuse(at, fmt.Sprintf("%s's argument %s", short, k), "ops play passes "+strings.Join(allowed, ", ")+" only")
	}
	t.Args = final
	return nil
}

// intKeyword is an isa='int' task keyword (retries, delay): null gives
// isNull; a template is refused (ops play reads it before running).
func (l *pbLoader) intKeyword(e entry, v any) (n int, isNull bool, err error) {
	switch v := v.(type) {
	case nil:
		return 0, true, nil
	case int:
		return v, false, nil
	case float64:
		return int(v), false, nil
	case string:
		if IsTemplate(v) {
			return 0, false, l.refuse(e.v, "a templated "+e.key, "ops play reads "+e.key+" before running")
		}
		i, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, false, l.syntax(e.v, "the field '%s' has an invalid value (%s), and could not be converted to an int", e.key, v)
		}
		return i, false, nil
	}
	return 0, false, l.syntax(e.v, "the field '%s' has an invalid value (%s), and could not be converted to an int", e.key, pyStr(v))
}

// metaTask checks the keywords of a meta task: what the linear strategy
// would do with them that ops play does not.
func (l *pbLoader) metaTask(t *Task, es []entry) error {
	for _, e := range es {
		switch e.key {
		case "loop", "with_items", "loop_control", "register", "until", "run_once", "ignore_errors", "changed_when", "failed_when":
			return l.refuse(e.k, e.key+" on a meta task", "ops play runs meta tasks with name, when, tags and vars only")
		}
	}
	return nil
}

// scanAssert scans an assert's that: bare conditions (a string holding
// {{ }} is a template that gives them).
func (l *pbLoader) scanAssert(n *yaml.Node) error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "that" {
			return l.scanNode(n.Content[i+1], true)
		}
	}
	return nil
}
