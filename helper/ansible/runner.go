package ansible

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
		fmt.Fprintf(w, "%-26s : ok=%-4d changed=%-4d unreachable=%-4d failed=%-4d skipped=%-4d rescued=%-4d ignored=%-4d\n",
			h, s.Ok, s.Changed, s.Unreachable, s.Failed, s.Skipped, s.Rescued, s.Ignored)
	}
	fmt.Fprintln(w)
}

func stars(title string) string { return strings.Repeat("*", max(3, 79-len(title)-1)) }

// runner is one ansible-playbook run.
type runner struct {
	inv        *Inventory
	pb         *Playbook
	exec       Executor
	o          RunOptions
	t          *Templar
	recap      *Recap
	mu         sync.Mutex                // output and recap
	vars       map[string]map[string]any // each host's variables (inventory, then registered, set by the run)
	groups     map[string]any
	playName   string
	registered map[string]map[string]any // this task's, until every host has done it
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
		vars: map[string]map[string]any{}, registered: map[string]map[string]any{}}
	for _, play := range pb.Plays {
		if err := r.play(ctx, play); err != nil {
			return r.recap, err
		}
		if ctx.Err() != nil {
			return r.recap, ctx.Err()
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
	for k, x := range r.o.ExtraVars {
		v[k] = x
	}
	v["ansible_check_mode"] = false
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

// play runs one play, batch by batch.
func (r *runner) play(ctx context.Context, play *Play) error {
	hosts, err := r.selectHosts(play.Hosts)
	if err != nil {
		return err
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
		return nil
	}
	r.playName = name
	r.printf("\nPLAY [%s] %s\n", name, stars("PLAY ["+name+"]"))
	if len(hosts) == 0 {
		r.printf("skipping: no hosts matched\n")
		return nil
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
			return fmt.Errorf("%s:%d: vars_files: %v", play.File, play.Line, err)
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
			return err
		}
		v["ansible_play_hosts"] = playHosts
		v["play_hosts"] = playHosts
		v["ansible_play_batch"] = playHosts
		v["hostvars"] = hostvars
		hostvars[h] = v
	}
	bs, err := batches(hosts, play.Serial)
	if err != nil {
		return fmt.Errorf("%s:%d: %v", play.File, play.Line, err)
	}
	tasks := play.AllTasks()
	for bi, batch := range bs {
		if bi > 0 {
			r.printf("\nPLAY [%s] %s\n", name, stars("PLAY ["+name+"]"))
		}
		active := slices.Clone(batch)
		for _, h := range batch {
			r.stats(h) // a host is in the recap once its batch starts, as in Ansible
		}
		failedInBatch := 0
		for _, task := range tasks {
			if !r.taskSelected(play, task) {
				continue
			}
			if len(active) == 0 {
				break
			}
			res := r.task(ctx, play, task, active)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var next []string
			anyFailed := false
			for i, h := range active {
				switch res[i] {
				case hostFailed, hostUnreachable:
					failedInBatch++
					anyFailed = true
				default:
					next = append(next, h)
				}
			}
			active = next
			if anyFailed && play.AnyErrorsFatal {
				active = nil
			}
			if play.MaxFailPercentage != nil && len(batch) > 0 &&
				float64(failedInBatch)*100/float64(len(batch)) > *play.MaxFailPercentage {
				r.printf("\nNO MORE HOSTS LEFT %s\n", stars("NO MORE HOSTS LEFT"))
				return nil
			}
			if len(active) == 0 {
				r.printf("\nNO MORE HOSTS LEFT %s\n", stars("NO MORE HOSTS LEFT"))
				break
			}
		}
		if len(active) == 0 && failedInBatch > 0 {
			// Every host of the batch failed: the play ends (Ansible).
			return nil
		}
		if play.AnyErrorsFatal && failedInBatch > 0 {
			return nil
		}
	}
	return nil
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
)

// task runs one task on the active hosts, at most Forks at a time, and
// prints their results in host order once all are done.
func (r *runner) task(ctx context.Context, play *Play, t *Task, hosts []string) []hostOutcome {
	name := t.Name
	if name == "" {
		name = t.Action
	}
	r.printf("\nTASK [%s] %s\n", name, stars("TASK ["+name+"]"))
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
	if t.Register != "" {
		for h, res := range r.registered {
			r.vars[h][t.Register] = res
		}
		clear(r.registered)
	}
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

// onHost runs the task (each loop item) on one host and counts it.
func (r *runner) onHost(ctx context.Context, play *Play, t *Task, h string) (hostOutcome, string) {
	r.mu.Lock()
	vars := r.vars[h]
	r.mu.Unlock()
	var b strings.Builder
	items, loop, err := r.loopItems(t, vars)
	if err != nil {
		return r.fail(h, t, &b, map[string]any{"failed": true, "msg": err.Error()})
	}
	if !loop {
		res := r.runOnce(ctx, play, t, h, vars, nil)
		return r.count(h, t, res, &b, "")
	}
	// A loop: each item is run and shown; the task's result is the list.
	var results []any
	changed, failed, skippedAll := false, false, len(items) > 0
	var unreach map[string]any
	for _, item := range items {
		local := withVar(vars, "item", item)
		res := r.runOnce(ctx, play, t, h, local, item)
		res["item"] = item
		results = append(results, res)
		label := fmt.Sprintf(" => (item=%s)", itemLabel(item))
		switch {
		case res["unreachable"] == true:
			unreach = res
		case res["skipped"] == true:
			fmt.Fprintf(&b, "skipping: [%s]%s \n", h, label)
		case res["failed"] == true:
			failed = true
			fmt.Fprintf(&b, "failed: [%s]%s => %s\n", h, label, resultJSON(res))
		case res["changed"] == true:
			skippedAll = false
			changed = true
			fmt.Fprintf(&b, "changed: [%s]%s\n", h, label)
		default:
			skippedAll = false
			fmt.Fprintf(&b, "ok: [%s]%s\n", h, label)
		}
		if res["skipped"] != true {
			skippedAll = false
		}
		if unreach != nil {
			break
		}
	}
	total := map[string]any{"results": results, "changed": changed, "msg": "All items completed"}
	if failed {
		total["failed"] = true
		total["msg"] = "One or more items failed"
	}
	if skippedAll {
		total["skipped"] = true
		total["msg"] = "All items skipped"
	}
	if unreach != nil {
		total = unreach
	}
	return r.count(h, t, total, &b, "loop")
}

func withVar(vars map[string]any, k string, v any) map[string]any {
	local := make(map[string]any, len(vars)+1)
	for kk, vv := range vars {
		local[kk] = vv
	}
	local[k] = v
	return local
}

func itemLabel(item any) string {
	switch v := item.(type) {
	case string:
		return v
	case nil:
		return "None"
	}
	b, _ := json.Marshal(item)
	return string(b)
}

// loopItems renders a task's loop.
func (r *runner) loopItems(t *Task, vars map[string]any) ([]any, bool, error) {
	if t.Loop == nil {
		return nil, false, nil
	}
	v, err := r.t.RenderValue(t.Loop, vars)
	if err != nil {
		return nil, true, err
	}
	switch l := v.(type) {
	case []any:
		return l, true, nil
	case []string:
		return strSlice(l), true, nil
	}
	return nil, true, fmt.Errorf("Invalid data passed to 'loop', it requires a list, got this instead: %v. Hint: If you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup.", v)
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
// result as Ansible registers it.
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
	var res map[string]any
	switch t.Module {
	case "debug":
		res = r.debug(t, vars)
	case "fail":
		msg := "Failed as requested from task"
		if m, ok := t.Args["msg"]; ok {
			v, err := r.t.RenderValue(m, vars)
			if err != nil {
				return map[string]any{"failed": true, "msg": err.Error()}
			}
			msg = fmt.Sprint(v)
		}
		res = map[string]any{"failed": true, "changed": false, "msg": msg}
	case "raw", "script":
		res = r.command(ctx, play, t, h, vars)
	default:
		res = map[string]any{"failed": true, "msg": "ops play does not run " + t.Module}
	}
	if res["unreachable"] == true || res["skipped"] == true {
		return res
	}
	// changed_when and failed_when see the result under its register name.
	local := vars
	if t.Register != "" && (t.ChangedWhen != nil || t.FailedWhen != nil) {
		local = withVar(vars, t.Register, res)
	}
	if t.ChangedWhen != nil {
		ok, err := r.conds(t.ChangedWhen, local)
		if err != nil {
			res["failed"], res["msg"] = true, fmt.Sprintf("The conditional check '%s' failed. The error was: %v", strings.Join(t.ChangedWhen, " and "), err)
		} else {
			res["changed"] = ok
		}
	}
	if t.FailedWhen != nil {
		ok, err := r.conds(t.FailedWhen, local)
		if err != nil {
			res["failed"], res["msg"] = true, fmt.Sprintf("The conditional check '%s' failed. The error was: %v", strings.Join(t.FailedWhen, " and "), err)
		} else {
			res["failed"] = ok
			res["failed_when_result"] = ok
		}
	}
	return res
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
	switch t.Module {
	case "raw":
		line, err := render(t.FreeForm)
		if err != nil {
			return map[string]any{"failed": true, "msg": err.Error()}
		}
		if ex, ok := t.Args["executable"]; ok {
			e, err := render(ex)
			if err != nil {
				return map[string]any{"failed": true, "msg": err.Error()}
			}
			line = e + " -c " + shellQuote(line)
		}
		req.Line = line
	case "script":
		ff, err := render(t.FreeForm)
		if err != nil {
			return map[string]any{"failed": true, "msg": err.Error()}
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
					return map[string]any{"failed": true, "msg": err.Error()}
				}
				args[k] = s
			}
		}
		// The arguments go to the remote shell as written, as Ansible's
		// script passes them.
		req.Line, req.Stdin = scriptLine(pyJoinArgs(words[1:]), args), body
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
	if c := o["creates"]; c != "" {
		fmt.Fprintf(&b, "if [ -e %s ]; then echo 'skipped, since %s exists'; exit %d; fi; ", shellQuote(c), c, scriptSkipped)
	}
	if c := o["removes"]; c != "" {
		fmt.Fprintf(&b, "if [ ! -e %s ]; then echo 'skipped, since %s does not exist'; exit %d; fi; ", shellQuote(c), c, scriptSkipped)
	}
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
	if t.Register != "" {
		// Set once every host has done the task: other hosts' templates
		// may read this host's variables (hostvars) meanwhile.
		r.registered[h] = res
	}
	if r.o.OnHostTaskResult != nil {
		r.o.OnHostTaskResult(h, t.Name, res)
	}
	if r.o.JSON != nil {
		defer func() { r.emitJSON(h, t, res) }()
	}
	s := r.stats(h)
	switch {
	case res["unreachable"] == true:
		s.Unreachable++
		fmt.Fprintf(b, "fatal: [%s]: UNREACHABLE! => %s\n", h, resultJSON(res))
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
			fmt.Fprintf(b, "fatal: [%s]: FAILED! => %s\n", h, resultJSON(res))
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
		s.Failed++
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
			} else {
				fmt.Fprintf(b, "ok: [%s]\n", h)
			}
		}
	}
	return hostOK, b.String()
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
	shown := make(map[string]any, len(res))
	for k, v := range res {
		if k != "_ignored" {
			shown[k] = v
		}
	}
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
