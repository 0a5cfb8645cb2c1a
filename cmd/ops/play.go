package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"github.com/urfave/cli/v2"

	"github.com/ops-team/ops/helper/ansible"
	"github.com/ops-team/ops/helper/fanout"
	"github.com/ops-team/ops/helper/runlog"
)

// exitRefused is ops play's exit for a playbook construct it does not run
// (ansible-playbook would): never 0, and apart from Ansible's codes.
const exitRefused = 3

type playOptions struct {
	fanFlags
	tags, skipTags []string
	listTasks      bool
	syntaxCheck    bool
	checkMode      bool
	startAt        string
	playbooks      []string
}

// playFlagSet declares ops play's flags on o: ops exec's, and the
// playbook's own.
func playFlagSet(o *playOptions) *pflag.FlagSet {
	fs := pflag.NewFlagSet("play", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	o.declare(fs)
	fs.Lookup("ask-become-pass").Usage = "ask for the become password once (as ansible-playbook: -b, become: or ansible_become decide who becomes)"
	fs.Lookup("list-hosts").Usage = "print each play's hosts and do nothing"
	fs.StringSliceVarP(&o.tags, "tags", "t", nil, "only tasks tagged `TAGS` (comma-separated; repeatable)")
	fs.StringSliceVar(&o.skipTags, "skip-tags", nil, "not tasks tagged `TAGS`")
	fs.BoolVar(&o.listTasks, "list-tasks", false, "list the tasks and do nothing")
	fs.BoolVar(&o.syntaxCheck, "syntax-check", false, "check the playbooks and do nothing")
	fs.BoolVarP(&o.checkMode, "check", "C", false, "check mode, as ansible-playbook's: raw and script are skipped (check_mode: false on a task runs it)")
	fs.StringVar(&o.startAt, "start-at-task", "", "start the first batch at the task named `NAME` (a shell pattern, as ansible-playbook)")
	declareRefused(fs)
	for _, r := range []struct{ name, why string }{
		{"step", "one task at a time is not implemented"},
		{"flush-cache", "ops play gathers no facts"},
		{"force-handlers", "handlers are not implemented"},
	} {
		fs.Bool(r.name, false, r.why)
		fs.Lookup(r.name).Hidden = true
	}
	return fs
}

func parsePlayArgs(args []string) (playOptions, error) {
	var o playOptions
	fs := playFlagSet(&o)
	if err := o.parse("play", fs, args); err != nil {
		return o, err
	}
	for _, n := range []string{"step", "flush-cache", "force-handlers"} {
		if fs.Changed(n) {
			return o, usagef("play: --%s is not implemented: %s (run it with ops remote-container ansible-playbook)", n, fs.Lookup(n).Usage)
		}
	}
	o.playbooks = fs.Args()
	if len(o.playbooks) == 0 {
		return o, usagef("play needs a playbook: ops play [flags] PLAYBOOK…")
	}
	return o, nil
}

func playCommand(d *deps) *cli.Command {
	var o playOptions
	return &cli.Command{
		Name:  "play",
		Usage: "run raw/script playbooks natively at fan-out speed (the same YAML as ansible-playbook)",
		UsageText: `ops play [flags] PLAYBOOK…

Examples:
   ops play -i inventory/ -bK playbooks/example.yml
   ops play -l web -t deploy -e version=1.2 site.yml
   ops play --list-tasks site.yml
   ops play -i inventory/ --start-at-task 'restart*' playbooks/rolling-restart.yml

Flags (short ones bundle as Ansible's: -bK, -f50, -uroot):
` + flagHelp(playFlagSet(&o)) + `
The subset: raw, script, debug, fail, set_fact, assert, pause, wait_for_connection, meta (noop,
end_host, end_play); block/rescue/always, import_tasks, include_tasks, import_playbook; when,
register, changed_when, failed_when, ignore_errors, ignore_unreachable, loop, with_items,
loop_control, until/retries/delay, run_once, any_errors_fatal, vars, tags, become, check_mode,
environment (ignored on raw, as Ansible); plays with hosts, vars, vars_files, serial,
max_fail_percentage, any_errors_fatal, gather_facts: false; -C, --start-at-task. Anything else
is refused before anything runs (exit 3): run it with ops remote-container ansible-playbook.
Exit: as ansible-playbook: 0 ok, 2 some host failed, 4 some unreachable; 3 a refused construct;
      2 for a usage mistake; 130 interrupted (143 SIGTERM, 129 SIGHUP).`,
		SkipFlagParsing: true,
		HideHelpCommand: true,
		Action: func(c *cli.Context) error {
			if helpAsked(c.Args().Slice()) {
				return cli.ShowSubcommandHelp(c)
			}
			o, err := parsePlayArgs(c.Args().Slice())
			if err != nil {
				return err
			}
			if o.listTasks || o.syntaxCheck || o.listHosts {
				return runPlay(c.Context, d, o)
			}
			return d.recorded(c.Context, d.argv, func() error { return runPlay(c.Context, d, o) })
		},
	}
}

// loadPlaybooks reads every playbook; what ops play does not run is
// refused here, before anything runs.
func loadPlaybooks(paths []string, acfg *ansible.ConfigFile) ([]*ansible.Playbook, error) {
	var out []*ansible.Playbook
	for _, p := range paths {
		pb, err := ansible.LoadPlaybook(p, acfg.Gathering == "implicit")
		if err != nil {
			var re *ansible.RefusedError
			if errors.As(err, &re) {
				return nil, commandExit{code: exitRefused, msg: "ops: " + err.Error()}
			}
			return nil, usageError{err}
		}
		out = append(out, pb)
	}
	return out, nil
}

func runPlay(ctx context.Context, d *deps, o playOptions) error {
	acfg, err := d.ansibleConfig()
	if err != nil {
		return err
	}
	o.applyConfig(acfg)
	if err := o.check("play"); err != nil {
		return err
	}
	pbs, err := loadPlaybooks(o.playbooks, acfg)
	if err != nil {
		return err
	}
	if o.startAt != "" {
		found := false
		for _, pb := range pbs {
			found = found || pb.StartAtMatches(o.startAt, o.tags, o.skipTags)
		}
		if !found {
			// ansible-playbook would run nothing and say nothing.
			return usagef("play: --start-at-task %q matches no task of the playbooks", o.startAt)
		}
	}
	_, atTerminal := d.stdinTerminal()
	if !atTerminal && !o.syntaxCheck && !o.listTasks && !o.listHosts {
		for _, pb := range pbs {
			if ts := pb.Prompts(); len(ts) > 0 {
				return usagef("play: %s:%d: this pause waits for an answer at a terminal, and stdin is none (give it seconds or minutes and no prompt, or run at a terminal)", ts[0].File, ts[0].Line)
			}
		}
	}
	if o.syntaxCheck {
		fmt.Fprintf(d.out, "\nplaybook: %s\n", strings.Join(o.playbooks, " "))
		return nil
	}
	if o.listTasks {
		for _, pb := range pbs {
			fmt.Fprint(d.out, pb.TaskList(o.tags, o.skipTags))
		}
		return nil
	}
	inv, err := openInventory(ctx, inventorySources(d, o.inventories, acfg.Inventory), o.extraVars, filepath.Dir(o.playbooks[0]))
	if err != nil {
		return err
	}
	ev, err := ansible.ParseExtraVars(o.extraVars)
	if err != nil {
		return usageError{err}
	}
	var limit []string
	if o.limit != "" {
		lp, err := o.limitPattern()
		if err != nil {
			return err
		}
		if limit, err = inv.Select(lp); err != nil {
			return usagef("--limit: %v", err)
		}
		if limit == nil {
			limit = []string{}
		}
	}
	ro := ansible.RunOptions{
		Forks: o.forks, Limit: limit, Tags: o.tags, SkipTags: o.skipTags, BecomeUser: o.becomeUser,
		ExtraVars: ev, Out: d.out, Warn: d.err, ListHosts: o.listHosts, ListTasks: o.listTasks,
		CommandTimeout: o.commandTimeout, ScriptBase: filepath.Dir(o.playbooks[0]), Fold: o.fold, Check: o.checkMode,
		StartAtTask: o.startAt,
	}
	if atTerminal {
		ro.Prompt = func(ctx context.Context, _ string, echo bool) (string, error) {
			return d.answer(ctx, echo, "pause: no answer on stdin")
		}
	}
	if o.asJSON {
		// stdout carries data: one object per host per task; the
		// playbook's own output goes to stderr.
		ro.JSON, ro.Out = d.out, d.err
	}
	if !o.given["become-user"] {
		ro.BecomeUser = "" // the plays', the hosts', then root
		if acfg.Origin("become_user") != "default" {
			ro.BecomeUser = acfg.BecomeUser
		}
	}
	// -b (or ansible.cfg's become); -K alone only asks, as ansible-playbook.
	if o.given["become"] || (!o.given["ask-become-pass"] && o.become) || acfg.Become {
		b := true
		ro.Become = &b
	}
	if o.listHosts {
		for _, pb := range pbs {
			fmt.Fprintf(d.out, "\nplaybook: %s\n", pb.File)
			if _, err := ansible.RunPlaybook(ctx, inv, pb, nil, ro); err != nil {
				return err
			}
		}
		return nil
	}
	// Every host of every play is resolved before anything runs: a host
	// that cannot be reached as given is refused now.
	names := map[string]bool{}
	var hosts []string
	for _, pb := range pbs {
		for _, pl := range pb.Plays {
			hs, err := inv.Select(pl.Hosts)
			if err != nil {
				return usageError{err}
			}
			for _, h := range hs {
				if !names[h] {
					names[h] = true
					hosts = append(hosts, h)
				}
			}
		}
	}
	targets, err := d.targets(inv, hosts, o.execView(), acfg)
	if err != nil {
		return err
	}
	fo := fanout.Options{Forks: o.forks, Handshakes: o.handshakes, ConnectTimeout: o.connectTimeout, Deadline: o.deadline}
	closeAgent, err := d.fanoutAuth(ctx, &fo, targets, o.fanFlags)
	if err != nil {
		return err
	}
	defer closeAgent()
	pool := fanout.NewPool(fo)
	defer pool.Close()
	ex := &poolExecutor{pool: pool, targets: map[string]fanout.Target{}}
	for _, t := range targets {
		ex.targets[t.Name] = t
	}
	recap := &ansible.Recap{Stats: map[string]*ansible.HostStats{}}
	var runErr error
	rctx := ctx
	if o.deadline > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, o.deadline)
		defer cancel()
	}
	for _, pb := range pbs {
		var r *ansible.Recap
		r, runErr = ansible.RunPlaybook(rctx, inv, pb, ex, ro)
		recap.Merge(r)
		if runErr != nil {
			break
		}
	}
	recap.Print(ro.Out)
	if d.header != nil {
		d.header.Hosts = recapHosts(recap)
	} else {
		d.sendResults(recapHosts(recap))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if rctx.Err() != nil {
		// The deadline: the hosts it cut off failed their task.
		return commandExit{code: 2, msg: fmt.Sprintf("ops: the run's deadline (%s) came before the play ended", o.deadline)}
	}
	if runErr != nil {
		return runErr
	}
	if code := recap.Exit(); code != 0 {
		return commandExit{code: code}
	}
	return nil
}

// execView is the exec options the target resolution reads.
func (o playOptions) execView() execOptions { return execOptions{fanFlags: o.fanFlags} }

// poolExecutor runs the runner's commands over the kept connections.
type poolExecutor struct {
	pool    *fanout.Pool
	targets map[string]fanout.Target
}

func (p *poolExecutor) Exec(ctx context.Context, host string, c ansible.ExecRequest) ansible.ExecResult {
	t, ok := p.targets[host]
	if !ok {
		return ansible.ExecResult{Msg: "no such host"}
	}
	if c.User != "" {
		t.User = c.User
	}
	r := p.pool.Exec(ctx, t, fanout.Command{Line: c.Line, Stdin: c.Stdin, Become: c.Become, BecomeUser: c.BecomeUser, Timeout: c.Timeout, Collect: true})
	out := ansible.ExecResult{RC: r.Exit, Stdout: string(r.Stdout), Stderr: string(r.Stderr), Msg: r.Error}
	switch r.Status {
	case fanout.Unreachable, fanout.NotStarted:
		out.Msg = "Failed to connect to the host via ssh: " + r.Error
	default:
		out.Reached = true
		out.Stopped = r.Status == fanout.TimedOut || r.Status == fanout.Interrupted
	}
	return out
}

// Redial drops the host's kept connection (wait_for_connection).
func (p *poolExecutor) Redial(host, user string) {
	t, ok := p.targets[host]
	if !ok {
		return
	}
	if user != "" {
		t.User = user
	}
	p.pool.Forget(t)
}

// recapHosts are the run log's per-host results: as a PLAY RECAP reads.
func recapHosts(r *ansible.Recap) []runlog.HostResult {
	hosts := slices.Clone(r.Hosts)
	sort.Strings(hosts)
	out := make([]runlog.HostResult, 0, len(hosts))
	for _, h := range hosts {
		s := r.Stats[h]
		res := "ok"
		switch {
		case s.Failed > 0:
			res = "failed"
		case s.Unreachable > 0:
			res = "unreachable"
		}
		out = append(out, runlog.HostResult{Name: h, Result: res})
	}
	return out
}
