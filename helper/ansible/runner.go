package ansible

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The runner of ops play: a playbook's plays with ansible-playbook 2.14's
// linear strategy (every host runs a task before any host starts the
// next), for the subset LoadPlaybook accepts. Commands go to an Executor,
// which keeps each host's connection between tasks.

// Executor runs one command on one host.
type Executor interface {
	Exec(ctx context.Context, host string, c ExecRequest) ExecResult
}

// ExecRequest is one command: a shell command line, its stdin (sent once
// sudo is past authentication), and how to become.
type ExecRequest struct {
	Line       string
	Stdin      []byte
	Become     bool
	BecomeUser string
	User       string // remote_user from the play, "" for the host's own
	Timeout    time.Duration
}

// ExecResult is what a command did.
type ExecResult struct {
	Reached bool // false: the host was never reached (unreachable)
	Stopped bool // the run was interrupted or timed out while it ran
	RC      int
	Stdout  string
	Stderr  string
	Msg     string // why, when it did not run to an exit status
}

// RunOptions are ansible-playbook's options that the runner applies.
type RunOptions struct {
	Forks            int
	Limit            []string // hosts --limit keeps; nil: all
	Tags, SkipTags   []string
	Become           *bool  // -b
	BecomeUser       string // --become-user
	ExtraVars        map[string]any
	Out              io.Writer // ansible-playbook's output
	Warn             io.Writer // warnings (stderr)
	ListHosts        bool
	ListTasks        bool
	CommandTimeout   time.Duration
	ScriptBase       string // where script: paths are found (the playbook's directory)
	OnHostTaskResult func(host, task string, r map[string]any)
	// Fold prints hosts whose task results read alike on one line.
	Fold bool
	// JSON, when set, receives one object per host per task: play, task,
	// host, status (ok, changed, failed, ignored, skipped, unreachable)
	// and the result as registered.
	JSON io.Writer
	// Check is -C/--check: raw is skipped, script too unless creates or
	// removes decide (the script never runs), ansible_check_mode is true;
	// a task's or play's check_mode overrides it.
	Check bool
	// StartAtTask is --start-at-task: a task name or shell pattern.
	StartAtTask string
	// Prompt asks at the operator's terminal and reads the answer (not
	// echoed unless echo): pause's prompt. nil: there is no terminal,
	// and a playbook whose pause prompts is refused (Playbook.Prompts).
	Prompt func(ctx context.Context, prompt string, echo bool) (string, error)
}

// HostStats are one host's PLAY RECAP counts.
type HostStats struct {
	Ok, Changed, Unreachable, Failed, Skipped, Rescued, Ignored int
}

// Recap is the run's outcome.
type Recap struct {
	Hosts []string // in the order they were first seen
	Stats map[string]*HostStats
}

// Exit is ansible-playbook's exit code for the recap: 4 when a host was
// unreachable (also when others failed), 2 when one failed, else 0.
func (r *Recap) Exit() int {
	code := 0
	for _, s := range r.Stats {
		if s.Unreachable > 0 {
			return 4
		}
		if s.Failed > 0 {
			code = 2
		}
	}
	return code
}

// Print writes the PLAY RECAP as ansible-playbook's default callback does.
func (r *Recap) Print(w io.Writer) {
	fmt.Fprintf(w, "\nPLAY RECAP %s\n", stars("PLAY RECAP"))
	hosts := slices.Clone(r.Hosts)
	sort.Strings(hosts)
	for _, h := range hosts {
		s := r.Stats[h]
		if *s == (HostStats{}) {
			// AggregateStats lists the hosts it counted something for
			// (a host ended by meta: end_host before any task is not).
			continue
		}
		fmt.Fprintf(w, "%-26s : ok=%-4d changed=%-4d unreachable=%-4d failed=%-4d skipped=%-4d rescued=%-4d ignored=%-4d\n",
			h, s.Ok, s.Changed, s.Unreachable, s.Failed, s.Skipped, s.Rescued, s.Ignored)
	}
	fmt.Fprintln(w)
}

func stars(title string) string { return strings.Repeat("*", max(3, 79-len(title)-1)) }

// runner is one ansible-playbook run.
type runner struct {
	inv      *Inventory
	pb       *Playbook
	exec     Executor
	o        RunOptions
	t        *Templar
	recap    *Recap
	mu       sync.Mutex                // output and recap
	vars     map[string]map[string]any // each host's variables (inventory, then registered, set by the run)
	groups   map[string]any
	playName string
	results  map[string]map[string]any // this task's, until every host has done it
	last     map[string]map[string]any // the last task's, for ansible_failed_result
	// facts are each host's set_fact and registered variables, kept
	// across plays (Ansible's non-persistent facts): above play vars,
	// below extra vars.
	facts       map[string]map[string]any
	startAtDone bool // a batch started at --start-at-task
	// failed and unreachable hosts do not run in later plays.
	failed, unreachable map[string]bool
}

// RunPlaybook runs pb's plays on inv's hosts. The error is for what stops
// the run before it ends normally (a bad vars file, an interrupt); the
// recap holds every host's counts either way.
func RunPlaybook(ctx context.Context, inv *Inventory, pb *Playbook, exec Executor, o RunOptions) (*Recap, error) {
	if o.Forks < 1 {
		o.Forks = 100
	}
	if o.Warn == nil {
		o.Warn = io.Discard
	}
	t := inv.Templar()
	AnsibleFilters(t)
	r := &runner{inv: inv, pb: pb, exec: exec, o: o, t: t, recap: &Recap{Stats: map[string]*HostStats{}},
		vars: map[string]map[string]any{}, results: map[string]map[string]any{},
		facts: map[string]map[string]any{}, failed: map[string]bool{}, unreachable: map[string]bool{}}
	for _, play := range pb.Plays {
		stop, err := r.play(ctx, play)
		if err != nil {
			return r.recap, err
		}
		if ctx.Err() != nil {
			return r.recap, ctx.Err()
		}
		if stop {
			// any_errors_fatal, max_fail_percentage, a failed run_once
			// task or a whole batch failed: the playbook ends
			// (PlaybookExecutor's break_play).
			break
		}
	}
	return r.recap, nil
}

func (r *runner) stats(h string) *HostStats {
	s, ok := r.recap.Stats[h]
	if !ok {
		s = &HostStats{}
		r.recap.Stats[h] = s
		r.recap.Hosts = append(r.recap.Hosts, h)
	}
	return s
}

func (r *runner) printf(format string, a ...any) {
	if r.o.Out != nil {
		fmt.Fprintf(r.o.Out, format, a...)
	}
}

// hostVars are the variables of host as a task sees them, built once per
// play: inventory variables, the magic ones, the play's vars and vars
// files, what was registered, extra vars over all.
func (r *runner) hostVars(host string, play map[string]any) (map[string]any, error) {
	if v, ok := r.vars[host]; ok {
		return v, nil
	}
	if r.groups == nil {
		r.groups = r.inv.GroupsVar()
	}
	v, err := r.inv.TemplateVarsWith(host, r.groups)
	if err != nil {
		return nil, err
	}
	for k, x := range play {
		v[k] = x
	}
	for k, x := range r.facts[host] {
		v[k] = x
	}
	for k, x := range r.o.ExtraVars {
		v[k] = x
	}
	v["ansible_check_mode"] = r.o.Check
	r.vars[host] = v
	return v, nil
}

// selectHosts are the hosts of a play's pattern, limited.
func (r *runner) selectHosts(pattern string) ([]string, error) {
	hosts, err := r.inv.Select(pattern)
	if err != nil {
		return nil, err
	}
	if r.o.Limit != nil {
		keep := map[string]bool{}
		for _, h := range r.o.Limit {
			keep[h] = true
		}
		hosts = slices.DeleteFunc(hosts, func(h string) bool { return !keep[h] })
	}
	return hosts, nil
}

// batches splits hosts by serial as Ansible does (the last size repeats).
func batches(hosts []string, serial []string) ([][]string, error) {
	if len(serial) == 0 || len(hosts) == 0 {
		return [][]string{hosts}, nil
	}
	var out [][]string
	i := 0
	for n := 0; len(hosts) > 0; n++ {
		s := serial[min(n, len(serial)-1)]
		size := 0
		if p, ok := strings.CutSuffix(strings.TrimSpace(s), "%"); ok {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil {
				return nil, fmt.Errorf("serial %q", s)
			}
			size = int(float64(len(hosts)+i) * f / 100)
		} else {
			v, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("serial %q", s)
			}
			size = v
		}
		if size <= 0 {
			size = 1
		}
		size = min(size, len(hosts))
		out = append(out, hosts[:size])
		i += size
		hosts = hosts[size:]
	}
	return out, nil
}

// play runs one play, batch by batch; stop says the playbook ends
// there.
func (r *runner) play(ctx context.Context, play *Play) (stop bool, err error) {
	hosts, err := r.selectHosts(play.Hosts)
	if err != nil {
		return false, err
	}
	name := play.Name
	if name == "" {
		name = play.Hosts
	}
	if r.o.ListHosts {
		r.printf("\n  play #%d (%s): %s\tTAGS: []\n    pattern: ['%s']\n    hosts (%d):\n", r.playIndex(play), play.Hosts, name, play.Hosts, len(hosts))
		for _, h := range hosts {
			r.printf("      %s\n", h)
		}
		return false, nil
	}
	r.playName = name
	r.printf("\nPLAY [%s] %s\n", name, stars("PLAY ["+name+"]"))
	if len(hosts) == 0 {
		r.printf("skipping: no hosts matched\n")
		return false, nil
	}
	playVars := map[string]any{}
	for k, v := range play.Vars {
		playVars[k] = v
	}
	for _, f := range play.VarsFiles {
		path := f
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(play.File), f)
		}
		m, err := loadVarsFile(path)
		if err != nil {
			return false, fmt.Errorf("%s:%d: vars_files: %v", play.File, play.Line, err)
		}
		for k, v := range m {
			playVars[k] = v
		}
	}
	r.vars = map[string]map[string]any{}
	playHosts := strSlice(hosts) // one list, shared by every host's variables
	hostvars := HostVars{}
	for _, h := range hosts {
		v, err := r.hostVars(h, playVars)
		if err != nil {
			return false, err
		}
		v["ansible_play_hosts"] = playHosts
		v["play_hosts"] = playHosts
		v["ansible_play_batch"] = playHosts
		v["hostvars"] = hostvars
		hostvars[h] = v
	}
	bs, err := batches(hosts, play.Serial)
	if err != nil {
		return false, fmt.Errorf("%s:%d: %v", play.File, play.Line, err)
	}
	return r.batches(ctx, play, name, bs)
}

func (r *runner) playIndex(p *Play) int {
	for i, x := range r.pb.Plays {
		if x == p {
			return i + 1
		}
	}
	return 0
}

// taskSelected applies --tags and --skip-tags as Ansible does (the play's
// tags count for its tasks).
func (r *runner) taskSelected(play *Play, t *Task) bool {
	return ShouldRun(play.EffectiveTags(t), r.o.Tags, r.o.SkipTags)
}

// Outcome of a task on a host, for the linear strategy.
type hostOutcome int

const (
	hostOK hostOutcome = iota
	hostFailed
	hostUnreachable
	hostUnreachableIgnored // ignore_unreachable: counted ok and ignored
)

// ignoresErrors is the task's ignore_errors as the linear strategy reads
// it (untemplated: a template is true).
func ignoresErrors(t *Task) bool {
	switch v := t.IgnoreErrors.(type) {
	case bool:
		return v
	case string:
		return v != ""
	}
	return false
}

func (t *Task) displayName() string {
	if t.Name != "" {
		return t.Name
	}
	return t.Action
}

func (r *runner) banner(t *Task) {
	name := t.displayName()
	r.printf("\nTASK [%s] %s\n", name, stars("TASK ["+name+"]"))
}

// meta runs a meta task as the linear strategy does: once per host
// (noop, end_host: each prints the task's banner) or once for all
// (end_play). Meta tasks count nothing in the recap. It gives the hosts
// left, and whether the play ends.
func (r *runner) meta(play *Play, t *Task, active []string) ([]string, bool) {
	when := func(h string) bool {
		if len(t.When) == 0 {
			return true
		}
		vars := r.taskVars(h, t)
		ok, err := r.conds(t.When, vars)
		if err != nil {
			// Ansible: the strategy stops on the error; ops play reports
			// it and takes the condition for false.
			fmt.Fprintf(r.o.Warn, "[ERROR]: %v\n", err)
			return false
		}
		return ok
	}
	switch t.FreeForm {
	case "end_play":
		r.banner(t)
		if when(active[0]) {
			return nil, true
		}
		r.printf("skipping: [%s]\n", active[0])
		return active, false
	case "end_host":
		var next []string
		for _, h := range active {
			r.banner(t)
			if when(h) {
				continue // its play is over, not failed
			}
			r.printf("skipping: [%s]\n", h)
			next = append(next, h)
		}
		return next, false
	}
	// noop
	for range active {
		r.banner(t)
		if len(t.When) > 0 {
			fmt.Fprintf(r.o.Warn, "[WARNING]: noop task does not support when conditional\n")
		}
	}
	return active, false
}

// taskVars are host's variables for task t: its vars over the play's,
// under set_fact, registered and extra vars.
func (r *runner) taskVars(h string, t *Task) map[string]any {
	r.mu.Lock()
	vars := r.vars[h]
	facts := r.facts[h]
	r.mu.Unlock()
	if len(t.Vars) == 0 {
		return vars
	}
	local := make(map[string]any, len(vars)+len(t.Vars))
	for k, v := range vars {
		local[k] = v
	}
	for k, v := range t.Vars {
		if _, ok := facts[k]; ok {
			continue
		}
		if _, ok := r.o.ExtraVars[k]; ok {
			continue
		}
		switch k {
		case "inventory_hostname", "hostvars", "groups", "group_names", "ansible_play_hosts", "play_hosts",
			"ansible_play_batch", "ansible_check_mode":
			continue
		}
		local[k] = v
	}
	return local
}

// checkMode is whether t runs in check mode: its check_mode, the play's,
// -C.
func (r *runner) checkMode(play *Play, t *Task) bool {
	if t.CheckMode != nil {
		return *t.CheckMode
	}
	if play.CheckMode != nil {
		return *play.CheckMode
	}
	return r.o.Check
}

// task runs one task on the hosts, at most Forks at a time, and prints
// their results in host order once all are done. A run_once task runs on
// one host; its result and facts go to every host of batch that was
// reachable.
func (r *runner) task(ctx context.Context, play *Play, t *Task, hosts, batch []string) []hostOutcome {
	r.banner(t)
	if t.Module == "raw" && t.Environment != nil {
		fmt.Fprintf(r.o.Warn, "[WARNING]: raw module does not support the environment keyword\n")
	}
	out := make([]hostOutcome, len(hosts))
	lines := make([]string, len(hosts))
	sem := make(chan struct{}, r.o.Forks)
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], lines[i] = r.onHost(ctx, play, t, h)
		}()
	}
	wg.Wait()
	for h, res := range r.results {
		targets := []string{h}
		if t.RunOnce {
			targets = nil
			for _, b := range batch {
				if !r.unreachable[b] {
					targets = append(targets, b)
				}
			}
		}
		for _, target := range targets {
			r.setFacts(target, t, res)
		}
	}
	r.last = maps.Clone(r.results)
	clear(r.results)
	if r.o.Fold {
		lines = fold(hosts, lines)
	}
	for _, l := range lines {
		r.printf("%s", l)
	}
	return out
}

// fold joins the hosts whose lines for a task are the same but for the
// host's name: "changed: [web1,web2,… (120)]".
func fold(hosts, lines []string) []string {
	type group struct {
		text  string
		hosts []string
	}
	var order []*group
	byText := map[string]*group{}
	for i, h := range hosts {
		key := strings.ReplaceAll(lines[i], "["+h+"]", "[\x00]")
		g, ok := byText[key]
		if !ok {
			g = &group{text: key}
			byText[key] = g
			order = append(order, g)
		}
		g.hosts = append(g.hosts, h)
	}
	out := make([]string, 0, len(order))
	for _, g := range order {
		name := strings.Join(g.hosts, ",")
		if len(g.hosts) > 1 {
			name += fmt.Sprintf(" (%d)", len(g.hosts))
		}
		out = append(out, strings.ReplaceAll(g.text, "[\x00]", "["+name+"]"))
	}
	return out
}

// setFacts applies a host's task result once every host has done the
// task: set_fact's facts (each loop item's in turn) and the registered
// result, as host variables above the play's and below extra vars.
func (r *runner) setFacts(h string, t *Task, res map[string]any) {
	set := func(k string, v any) {
		if r.facts[h] == nil {
			r.facts[h] = map[string]any{}
		}
		r.facts[h][k] = v
		if _, extra := r.o.ExtraVars[k]; !extra && r.vars[h] != nil {
			r.vars[h][k] = v
		}
	}
	if t.Module == "set_fact" && res["failed"] != true && res["skipped"] != true {
		items := []any{res}
		if rs, ok := res["results"].([]any); ok && t.Loop != nil {
			items = rs
		}
		for _, it := range items {
			m, _ := it.(map[string]any)
			if af, ok := m["ansible_facts"].(map[string]any); ok && m["failed"] != true && m["skipped"] != true {
				for k, v := range af {
					set(k, v)
				}
			}
		}
	}
	if t.Register != "" {
		set(t.Register, stripInternal(res))
	}
}

// stripInternal drops the result's _ansible_ keys (and ops play's own
// _ignored), as Ansible registers it.
func stripInternal(res map[string]any) map[string]any {
	out := make(map[string]any, len(res))
	for k, v := range res {
		if strings.HasPrefix(k, "_ansible_") || k == "_ignored" {
			continue
		}
		out[k] = v
	}
	return out
}

func strSlice(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

// conds evaluates when/changed_when/failed_when as ansible-core's
// Conditional does.
func (r *runner) conds(list []string, vars map[string]any) (bool, error) {
	return r.t.Conditions(list, vars)
}

// runOnce runs the task once (one loop item) on a host and gives its
// result as Ansible registers it: when, then the module with until's
// attempts, changed_when and failed_when (TaskExecutor._execute).
func (r *runner) runOnce(ctx context.Context, play *Play, t *Task, h string, vars map[string]any, item any) map[string]any {
	if len(t.When) > 0 {
		ok, err := r.conds(t.When, vars)
		if err != nil {
			return map[string]any{"failed": true, "msg": fmt.Sprintf("The conditional check '%s' failed. The error was: %v", strings.Join(t.When, " and "), err)}
		}
		if !ok {
			return map[string]any{"changed": false, "skipped": true, "skip_reason": "Conditional result was False", "false_condition": t.When[len(t.When)-1]}
		}
	}
	retries := 1
	if len(t.Until) > 0 {
		switch {
		case t.Retries == nil:
			retries = 3
		case *t.Retries <= 0:
			retries = 1
		default:
			retries = *t.Retries + 1
		}
	}
	delay := t.Delay
	if delay < 0 {
		delay = 1
	}
	var res map[string]any
	for attempt := 1; ; attempt++ {
		var final bool
		res, final = r.module(ctx, play, t, h, vars)
		if final {
			return res
		}
		if _, ok := res["failed"]; !ok {
			rc, hasRC := res["rc"]
			res["failed"] = hasRC && rc != 0
		}
		if len(t.Until) > 0 {
			res["attempts"] = attempt
		}
		if _, ok := res["changed"]; !ok {
			res["changed"] = false
		}
		// changed_when, failed_when and until see the result under its
		// register name.
		local := vars
		if t.Register != "" {
			local = withVar(vars, t.Register, res)
		}
		if _, skipped := res["skipped"]; !skipped {
			r.changedFailedWhen(t, res, local)
		}
		if retries <= 1 {
			return res
		}
		ok, err := r.conds(t.Until, local)
		if err != nil {
			return map[string]any{"failed": true, "msg": err.Error()}
		}
		if ok {
			return res
		}
		if attempt >= retries {
			// Out of attempts: failed, whatever the last one said.
			res["attempts"] = retries - 1
			res["failed"] = true
			return res
		}
		res["retries"] = retries
		r.mu.Lock()
		r.printf("FAILED - RETRYING: [%s]: %s (%d retries left).\n", h, t.displayName(), retries-attempt)
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return res
		case <-time.After(time.Duration(delay) * time.Second):
		}
	}
}

// changedFailedWhen applies changed_when then failed_when to res; an
// error in one fails the task with it.
func (r *runner) changedFailedWhen(t *Task, res, local map[string]any) {
	if len(t.ChangedWhen) > 0 {
		ok, err := r.conds(t.ChangedWhen, local)
		if err != nil {
			res["failed"], res["changed_when_result"] = true, err.Error()
			return
		}
		res["changed"] = ok
	}
	if len(t.FailedWhen) > 0 {
		ok, err := r.conds(t.FailedWhen, local)
		if err != nil {
			res["failed"], res["failed_when_result"] = true, err.Error()
			return
		}
		res["failed"] = ok
		res["failed_when_result"] = ok
	}
}

// module runs the task's module once. final says the result is the
// task's as it is (unreachable, or an error before the module ran: no
// until, changed_when or failed_when).
func (r *runner) module(ctx context.Context, play *Play, t *Task, h string, vars map[string]any) (map[string]any, bool) {
	failed := func(err error) (map[string]any, bool) {
		return map[string]any{"failed": true, "msg": err.Error()}, true
	}
	switch t.Module {
	case "debug":
		res := r.debug(t, vars)
		return res, res["failed"] == true
	case "fail":
		msg := "Failed as requested from task"
		if m, ok := t.Args["msg"]; ok {
			v, err := r.t.RenderValue(m, vars)
			if err != nil {
				return failed(err)
			}
			msg = fmt.Sprint(v)
		}
		return map[string]any{"failed": true, "changed": false, "msg": msg}, false
	case "set_fact":
		return r.setFact(t, vars)
	case "assert":
		return r.assert(t, vars)
	case "pause":
		return r.pause(ctx, t, vars), false
	case "wait_for_connection":
		return r.waitForConnection(ctx, play, t, h, vars), false
	case "raw", "script":
		res := r.command(ctx, play, t, h, vars)
		final := res["unreachable"] == true || res["_final"] == true
		delete(res, "_final")
		return res, final
	}
	return failed(fmt.Errorf("ops play does not run %s", t.Module))
}

// setFact is the set_fact action: its arguments templated, "true",
// "false", "yes", "no" strings made booleans (jinja2_native off); ok,
// never changed.
func (r *runner) setFact(t *Task, vars map[string]any) (map[string]any, bool) {
	if len(t.Args) == 0 {
		return map[string]any{"failed": true, "msg": "No key/value pairs provided, at least one is required for this action to succeed"}, true
	}
	facts := map[string]any{}
	for k, v := range t.Args {
		kv, err := r.t.Render(k, vars)
		if err != nil {
			return map[string]any{"failed": true, "msg": err.Error()}, true
		}
		name := pyStr(kv)
		if !isIdentifier(name) {
			return map[string]any{"failed": true, "msg": fmt.Sprintf("The variable name '%s' is not valid. Variables must start with a letter or underscore character, and contain only letters, numbers and underscores.", name)}, true
		}
		x, err := r.t.RenderValue(v, vars)
		if err != nil {
			return map[string]any{"failed": true, "msg": err.Error()}, true
		}
		if s, ok := x.(string); ok {
			switch strings.ToLower(s) {
			case "true", "yes":
				x = true
			case "false", "no":
				x = false
			}
		}
		facts[name] = x
	}
	return map[string]any{"ansible_facts": facts, "changed": false}, false
}

// assert is the assert action: each of that a condition; ok or failed,
// never changed; shown in full unless quiet.
func (r *runner) assert(t *Task, vars map[string]any) (map[string]any, bool) {
	errRes := func(err error) (map[string]any, bool) {
		return map[string]any{"failed": true, "msg": err.Error()}, true
	}
	msgArg := func(keys ...string) (any, bool, error) {
		for _, k := range keys {
			if v, ok := t.Args[k]; ok && v != nil {
				x, err := r.t.RenderValue(v, vars)
				if err != nil {
					return nil, false, err
				}
				switch x := x.(type) {
				case string:
				case []any:
					for _, e := range x {
						if _, ok := e.(string); !ok {
							return nil, false, fmt.Errorf("Type of one of the elements in %s list is not string type", k)
						}
					}
				default:
					return nil, false, fmt.Errorf("Incorrect type for %s, expected a string or list and got %s", k, pyTypeName(x))
				}
				return x, true, nil
			}
		}
		return nil, false, nil
	}
	failMsg, ok, err := msgArg("fail_msg", "msg")
	if err != nil {
		return errRes(err)
	}
	if !ok {
		failMsg = "Assertion failed"
	}
	successMsg, ok, err := msgArg("success_msg")
	if err != nil {
		return errRes(err)
	}
	if !ok {
		successMsg = "All assertions passed"
	}
	quiet := false
	if q, ok := t.Args["quiet"]; ok {
		v, err := r.t.RenderValue(q, vars)
		if err != nil {
			return errRes(err)
		}
		quiet, _ = Boolean(v)
	}
	thats := t.Args["that"]
	if s, ok := thats.(string); ok && IsTemplate(s) {
		if thats, err = r.t.Render(s, vars); err != nil {
			return errRes(err)
		}
	}
	list, ok := thats.([]any)
	if !ok {
		list = []any{thats}
	}
	res := map[string]any{}
	if !quiet {
		res["_ansible_verbose_always"] = true
	}
	for _, x := range list {
		cond := ""
		switch x := x.(type) {
		case nil:
		case bool:
			cond = "False"
			if x {
				cond = "True"
			}
		default:
			cond = pyStr(x)
		}
		ok, err := r.t.Condition(cond, vars)
		if err != nil {
			return errRes(err)
		}
		if !ok {
			res["failed"], res["evaluated_to"], res["assertion"], res["msg"] = true, false, x, failMsg
			return res, false
		}
	}
	res["changed"], res["msg"] = false, successMsg
	return res, false
}

func (r *runner) debug(t *Task, vars map[string]any) map[string]any {
	if v, ok := t.Args["var"]; ok {
		name := fmt.Sprint(v)
		val, err := r.t.Render("{{ "+name+" }}", vars)
		if err != nil {
			val = "VARIABLE IS NOT DEFINED!"
		}
		return map[string]any{name: val, "changed": false, "failed": false}
	}
	msg := any("Hello world!")
	if m, ok := t.Args["msg"]; ok {
		v, err := r.t.RenderValue(m, vars)
		if err != nil {
			return map[string]any{"failed": true, "msg": err.Error()}
		}
		msg = v
	}
	return map[string]any{"msg": msg, "changed": false, "failed": false}
}

// become is the task's privilege: the task's keyword, the play's, the
// command line's (-b, --become-user), the host's ansible_become.
func (r *runner) become(play *Play, t *Task, vars map[string]any) (bool, string) {
	on, user := false, ""
	if b, ok := vars["ansible_become"]; ok {
		on, _ = Boolean(b)
	}
	if u, ok := vars["ansible_become_user"].(string); ok {
		user = u
	}
	if r.o.Become != nil && *r.o.Become {
		on = true
	}
	if r.o.BecomeUser != "" {
		user = r.o.BecomeUser
	}
	if play.Become != nil {
		on = *play.Become
	}
	if play.BecomeUser != "" {
		user = play.BecomeUser
	}
	if t.Become != nil {
		on = *t.Become
	}
	if t.BecomeUser != "" {
		user = t.BecomeUser
	}
	if user == "" {
		user = "root"
	}
	return on, user
}

// command runs raw or script.
func (r *runner) command(ctx context.Context, play *Play, t *Task, h string, vars map[string]any) map[string]any {
	req := ExecRequest{Timeout: r.o.CommandTimeout, User: play.RemoteUser}
	if t.Timeout > 0 {
		req.Timeout = time.Duration(t.Timeout) * time.Second
	}
	req.Become, req.BecomeUser = r.become(play, t, vars)
	render := func(v any) (string, error) {
		x, err := r.t.RenderValue(v, vars)
		if err != nil {
			return "", err
		}
		return fmt.Sprint(x), nil
	}
	check := r.checkMode(play, t)
	switch t.Module {
	case "raw":
		if check {
			// raw's action: in check mode, always skipped.
			return map[string]any{"skipped": true}
		}
		line, err := render(t.FreeForm)
		if err != nil {
			return map[string]any{"failed": true, "msg": err.Error(), "_final": true}
		}
		if ex, ok := t.Args["executable"]; ok {
			e, err := render(ex)
			if err != nil {
				return map[string]any{"failed": true, "msg": err.Error(), "_final": true}
			}
			line = e + " -c " + shellQuote(line)
		}
		req.Line = line
	case "script":
		ff, err := render(t.FreeForm)
		if err != nil {
			return map[string]any{"failed": true, "msg": err.Error(), "_final": true}
		}
		words, err := pySplitArgs(ff)
		if err != nil || len(words) == 0 {
			return map[string]any{"failed": true, "msg": "script: no script named"}
		}
		path := pyUnquote(words[0])
		if !filepath.IsAbs(path) {
			for _, dir := range []string{filepath.Join(r.o.ScriptBase, "files"), r.o.ScriptBase} {
				if _, err := os.Stat(filepath.Join(dir, path)); err == nil {
					path = filepath.Join(dir, path)
					break
				}
			}
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return map[string]any{"failed": true, "msg": fmt.Sprintf("Could not find or access '%s'", words[0])}
		}
		args := map[string]string{}
		for _, k := range []string{"creates", "removes", "chdir", "executable"} {
			if v, ok := t.Args[k]; ok {
				s, err := render(v)
				if err != nil {
					return map[string]any{"failed": true, "msg": err.Error(), "_final": true}
				}
				args[k] = s
			}
		}
		// The arguments go to the remote shell as written, as Ansible's
		// script passes them.
		req.Line, req.Stdin = scriptLine(pyJoinArgs(words[1:]), args), body
		if check {
			// script's action in check mode: creates and removes are
			// still checked on the host; the script never runs.
			if args["creates"] == "" && args["removes"] == "" {
				return map[string]any{"changed": false, "skipped": true, "msg": "Check mode is not supported for this task."}
			}
			req.Line, req.Stdin = scriptChecks(args)+"exit 0", nil
			res := r.exec.Exec(ctx, h, req)
			switch {
			case !res.Reached:
				return map[string]any{"unreachable": true, "changed": false, "msg": res.Msg}
			case res.RC == scriptSkipped:
				return map[string]any{"changed": false, "skipped": true, "msg": strings.TrimSpace(res.Stdout)}
			case res.RC != 0 || res.Stopped:
				return map[string]any{"changed": false, "failed": true, "rc": res.RC, "msg": strings.TrimSpace(res.Stderr + " " + res.Msg)}
			}
			return map[string]any{"changed": true}
		}
	}
	res := r.exec.Exec(ctx, h, req)
	if !res.Reached {
		return map[string]any{"unreachable": true, "changed": false, "msg": res.Msg}
	}
	if res.RC == scriptSkipped && t.Module == "script" {
		return map[string]any{"changed": false, "skipped": true, "msg": strings.TrimSpace(res.Stdout)}
	}
	out := map[string]any{
		"rc": res.RC, "stdout": res.Stdout, "stderr": res.Stderr,
		"stdout_lines": strSlice(splitLines(res.Stdout)), "stderr_lines": strSlice(splitLines(res.Stderr)),
		"changed": true,
	}
	if res.RC != 0 || res.Stopped {
		out["failed"] = true
		out["msg"] = "non-zero return code"
		if res.Msg != "" {
			out["msg"] = res.Msg
		}
	}
	return out
}

// scriptSkipped is the status the script wrapper exits with when creates
// or removes says the script need not run.
const scriptSkipped = 217

// scriptLine runs a script sent on stdin as Ansible's script module runs
// it: a private copy (mktemp, mode 0700), its stdin empty, removed in the
// same session; creates/removes checked first; chdir, executable.
func scriptLine(args string, o map[string]string) string {
	var b strings.Builder
	b.WriteString(scriptChecks(o))
	b.WriteString(`t=$(mktemp) || exit 1; trap 'rm -f "$t"' EXIT; cat > "$t" && chmod 700 "$t" || exit 1; `)
	if d := o["chdir"]; d != "" {
		fmt.Fprintf(&b, "cd %s || exit 1; ", shellQuote(d))
	}
	run := `"$t"`
	if e := o["executable"]; e != "" {
		run = e + ` "$t"`
	}
	fmt.Fprintf(&b, "%s %s </dev/null", run, args)
	return b.String()
}

// scriptChecks are script's creates and removes tests, with the
// messages of ansible-core 2.14's script action.
func scriptChecks(o map[string]string) string {
	var b strings.Builder
	if c := o["creates"]; c != "" {
		fmt.Fprintf(&b, "if [ -e %s ]; then printf '%%s\\n' %s; exit %d; fi; ", shellQuote(c), shellQuote(c+" exists, matching creates option"), scriptSkipped)
	}
	if c := o["removes"]; c != "" {
		fmt.Fprintf(&b, "if [ ! -e %s ]; then printf '%%s\\n' %s; exit %d; fi; ", shellQuote(c), shellQuote(c+" does not exist, matching removes option"), scriptSkipped)
	}
	return b.String()
}

func splitLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

// count records a host's task result: register, ignore_errors, the recap,
// and the line ansible-playbook prints.
func (r *runner) count(h string, t *Task, res map[string]any, b *strings.Builder, mode string) (hostOutcome, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	vars := r.vars[h]
	// Applied once every host has done the task: other hosts' templates
	// may read this host's variables (hostvars) meanwhile.
	r.results[h] = res
	if r.o.OnHostTaskResult != nil {
		r.o.OnHostTaskResult(h, t.Name, res)
	}
	if r.o.JSON != nil {
		defer func() { r.emitJSON(h, t, res) }()
	}
	s := r.stats(h)
	switch {
	case res["unreachable"] == true:
		fmt.Fprintf(b, "fatal: [%s]: UNREACHABLE! => %s\n", h, resultJSON(res))
		if t.IgnoreUnreachable != nil && *t.IgnoreUnreachable {
			s.Ok++
			s.Ignored++
			fmt.Fprintf(b, "...ignoring\n")
			return hostUnreachableIgnored, b.String()
		}
		s.Unreachable++
		return hostUnreachable, b.String()
	case res["skipped"] == true:
		s.Skipped++
		if mode != "loop" {
			fmt.Fprintf(b, "skipping: [%s]\n", h)
		}
		return hostOK, b.String()
	case res["failed"] == true:
		ignore := false
		if t.IgnoreErrors != nil {
			v, err := r.t.RenderValue(t.IgnoreErrors, vars)
			if err == nil {
				ignore, _ = Boolean(v)
			}
		}
		if mode != "loop" {
			if res["_ansible_verbose_always"] == true {
				fmt.Fprintf(b, "fatal: [%s]: FAILED! => %s\n", h, indentJSON(shownResult(res)))
			} else {
				fmt.Fprintf(b, "fatal: [%s]: FAILED! => %s\n", h, resultJSON(stripInternal(res)))
			}
		}
		if ignore {
			res["_ignored"] = true
			s.Ok++
			s.Ignored++
			if res["changed"] == true {
				s.Changed++
			}
			fmt.Fprintf(b, "...ignoring\n")
			return hostOK, b.String()
		}
		// Counted failed or rescued by the strategy, which knows the
		// host's blocks.
		return hostFailed, b.String()
	case res["changed"] == true:
		s.Ok++
		s.Changed++
		if mode != "loop" {
			fmt.Fprintf(b, "changed: [%s]\n", h)
		}
	default:
		s.Ok++
		if mode != "loop" {
			if t.Module == "debug" {
				shown := map[string]any{}
				for k, v := range res {
					if k != "changed" && k != "failed" {
						shown[k] = v
					}
				}
				fmt.Fprintf(b, "ok: [%s] => %s\n", h, indentJSON(shown))
			} else if res["_ansible_verbose_always"] == true {
				fmt.Fprintf(b, "ok: [%s] => %s\n", h, indentJSON(shownResult(res)))
			} else {
				fmt.Fprintf(b, "ok: [%s]\n", h)
			}
		}
	}
	return hostOK, b.String()
}

// shownResult is a result as the default callback shows it: without
// internal keys, failed and skipped (TaskResult.clean_copy).
func shownResult(res map[string]any) map[string]any {
	out := stripInternal(res)
	delete(out, "failed")
	delete(out, "skipped")
	return out
}

func resultJSON(res map[string]any) string {
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Sprint(res)
	}
	return string(b)
}

func indentJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// fail is a result that failed before anything ran.
func (r *runner) fail(h string, t *Task, b *strings.Builder, res map[string]any) (hostOutcome, string) {
	return r.count(h, t, res, b, "")
}

// loadVarsFile reads a play's vars_files entry: YAML or JSON, a mapping.
func loadVarsFile(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := decodeData(b, path)
	if err != nil {
		return nil, err
	}
	if !truthy(v) {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: expected a mapping of variables, got %s", path, pyTypeName(v))
	}
	return m, nil
}

// Merge adds other's counts (another playbook of the same run).
func (r *Recap) Merge(other *Recap) {
	if other == nil {
		return
	}
	if r.Stats == nil {
		r.Stats = map[string]*HostStats{}
	}
	for _, h := range other.Hosts {
		s, ok := r.Stats[h]
		if !ok {
			s = &HostStats{}
			r.Stats[h] = s
			r.Hosts = append(r.Hosts, h)
		}
		o := other.Stats[h]
		s.Ok += o.Ok
		s.Changed += o.Changed
		s.Unreachable += o.Unreachable
		s.Failed += o.Failed
		s.Skipped += o.Skipped
		s.Rescued += o.Rescued
		s.Ignored += o.Ignored
	}
}

// emitJSON writes one host's task result for --json (under r.mu).
func (r *runner) emitJSON(h string, t *Task, res map[string]any) {
	status := "ok"
	switch {
	case res["unreachable"] == true:
		status = "unreachable"
	case res["skipped"] == true:
		status = "skipped"
	case res["failed"] == true && res["_ignored"] == true:
		status = "ignored"
	case res["failed"] == true:
		status = "failed"
	case res["changed"] == true:
		status = "changed"
	}
	shown := stripInternal(res)
	b, err := json.Marshal(map[string]any{"play": r.playName, "task": t.Name, "host": h, "status": status, "result": shown})
	if err != nil {
		b, _ = json.Marshal(map[string]any{"play": r.playName, "task": t.Name, "host": h, "status": status, "error": err.Error()})
	}
	_, _ = r.o.JSON.Write(append(b, '\n'))
}

// HostVars is the magic variable hostvars: every play host's variables by
// name. Its own type keeps the templating from walking into it (each
// host's variables hold hostvars again); templates index it as a mapping.
// Values are as set: a template inside another host's variable is not
// rendered.
type HostVars map[string]any
