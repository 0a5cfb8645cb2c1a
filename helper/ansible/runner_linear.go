package ansible

import (
	"context"
	"slices"
	"strings"
)

// The linear strategy of ansible-core 2.14 (plugins/strategy/linear.py
// run, with the result handling of StrategyBase._process_pending_results
// and the batch bookkeeping of TaskQueueManager.run and
// PlaybookExecutor.run), over the PlayIterator port.

// TaskQueueManager's run results.
const (
	runOK           = 0
	runFailedHosts  = 2
	runUnreachable  = 4
	runFailedBreak  = 8
	noMoreHostsLeft = "NO MORE HOSTS LEFT"
)

// batches runs a play's batches; stop says the playbook ends after this
// play (PlaybookExecutor's break_play).
func (r *runner) batches(ctx context.Context, play *Play, name string, bs [][]string) (stop bool, err error) {
	blocks := filterBlocks(play.Blocks(), func(t *Task) bool { return r.taskSelected(play, t) })
	for bi, batch := range bs {
		if bi > 0 {
			r.printf("\nPLAY [%s] %s\n", name, stars("PLAY ["+name+"]"))
		}
		for _, h := range batch {
			r.stats(h) // a host is in the recap once its batch starts, as in Ansible
		}
		before := len(r.failed) + len(r.unreachable)
		result, endPlay, err := r.runBatch(ctx, play, blocks, batch)
		if err != nil {
			return false, err
		}
		if endPlay {
			// meta: end_play ends the play, not the playbook.
			break
		}
		if result&runFailedBreak != 0 {
			stop = true
		}
		if len(r.failed)+len(r.unreachable)-before == len(batch) {
			// Every host of the batch failed: the playbook ends.
			return true, nil
		}
	}
	return stop, nil
}

// runBatch is TaskQueueManager.run of one batch with the linear
// strategy.
func (r *runner) runBatch(ctx context.Context, play *Play, blocks []*Task, batch []string) (result int, endPlay bool, err error) {
	it := newPlayIterator(blocks, batch)
	if r.o.StartAtTask != "" && !r.startAtDone && it.startAt(batch, r.o.StartAtTask) {
		r.startAtDone = true
	}
	// Hosts failed in earlier plays stay failed; the TQM's list then
	// holds this run's failures.
	for _, h := range hostOrder(r.failed, r.recap.Hosts) {
		it.markFailed(h)
	}
	failed := map[string]bool{}
	defer func() {
		for _, h := range it.failedHosts() {
			failed[h] = true
		}
		r.failed = failed
	}()
	for {
		var left []string
		for _, h := range batch {
			if !r.unreachable[h] {
				left = append(left, h)
			}
		}
		task, run, wait := it.lockstep(left)
		if task == nil {
			break
		}
		aef := false
		var failedHosts, unreachHosts []string
		if task.Module == "include_tasks" {
			r.includeTasks(it, play, task, run)
		} else if task.Module == "meta" {
			rest, ended := r.meta(play, task, run)
			if task.FreeForm == "end_host" {
				for _, h := range run {
					if !contains(rest, h) {
						it.states[h].run = stComplete
					}
				}
			}
			if ended {
				for _, h := range batch {
					if !r.unreachable[h] {
						it.states[h].run = stComplete
					}
				}
				endPlay = true
			}
			if (r.anyErrorsFatal(play, task) || task.FreeForm == "end_play") && !ignoresErrors(task) {
				aef = true
			}
			for _, h := range run {
				if it.isFailed(h) {
					failedHosts = append(failedHosts, h)
				}
			}
		} else {
			// pause bypasses the host loop (BYPASS_HOST_LOOP): it runs
			// for the first host, as run_once, but its result stays that
			// host's.
			once := task.RunOnce || task.Module == "pause"
			if (r.anyErrorsFatal(play, task) || once) && !ignoresErrors(task) {
				aef = true
			}
			ran := run
			if once {
				ran = run[:1]
			}
			outcomes := r.task(ctx, play, task, ran, batch)
			if ctx.Err() != nil {
				return result, false, ctx.Err()
			}
			for i, h := range ran {
				switch outcomes[i] {
				case hostFailed:
					r.hostFailed(it, play, task, h, batch, failed)
					if it.isFailed(h) {
						failedHosts = append(failedHosts, h)
					}
				case hostUnreachable:
					r.unreachable[h] = true
					unreachHosts = append(unreachHosts, h)
				case hostUnreachableIgnored:
					unreachHosts = append(unreachHosts, h)
				}
			}
		}
		// The hosts that waited ran a noop: a meta result, counted when
		// the iterator has them failed.
		for _, h := range wait {
			if it.isFailed(h) {
				failedHosts = append(failedHosts, h)
			}
		}
		if aef && len(failedHosts)+len(unreachHosts) > 0 {
			for _, h := range left {
				s, _ := it.peek(h)
				a := activeState(s)
				if a.run != stRescue && a.run != stAlways || a.run == stRescue && a.fail&failRescue != 0 {
					failed[h] = true
					result |= runFailedBreak
				}
			}
		}
		if play.MaxFailPercentage != nil && len(batch) > 0 &&
			float64(len(failed))/float64(len(batch)) > *play.MaxFailPercentage/100 {
			for _, h := range left {
				if !contains(failedHosts, h) {
					failed[h] = true
					it.markFailed(h)
				}
			}
			r.printf("\n%s %s\n", noMoreHostsLeft, stars(noMoreHostsLeft))
			result |= runFailedBreak
		}
		if result != runOK && len(failed) >= len(left) {
			r.printf("\n%s %s\n", noMoreHostsLeft, stars(noMoreHostsLeft))
			return result, endPlay, nil
		}
	}
	// StrategyBase.run: one more pass, without peeking.
	for _, h := range batch {
		if !r.unreachable[h] {
			it.advance(h)
		}
	}
	switch {
	case result != runOK:
	case len(r.unreachable) > 0:
		result = runUnreachable
	case len(it.failedHosts()) > 0:
		result = runFailedHosts
	}
	return result, endPlay, nil
}

// hostFailed is what _process_pending_results does with a failed result
// that is not ignored: the host's state fails (every host's, for a
// run_once task), and the failure is counted as rescued when a block
// was rescuing it, with ansible_failed_task and ansible_failed_result
// set for the rescue.
func (r *runner) hostFailed(it *playIterator, play *Play, t *Task, h string, batch []string, failed map[string]bool) {
	whenFailed := it.states[h]
	if t.RunOnce {
		for _, b := range batch {
			if !r.unreachable[b] {
				it.markFailed(b)
			}
		}
	} else {
		it.markFailed(h)
	}
	if s, _ := it.peek(h); it.isFailed(h) && s.run == stComplete {
		failed[h] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats(h)
	if !anyBlockRescuing(whenFailed) {
		s.Failed++
		return
	}
	s.Rescued++
	res := stripInternal(r.last[h])
	r.setHostFact(h, "ansible_failed_result", res)
	r.setHostFact(h, "ansible_failed_task", failedTask(t))
}

// failedTask is ansible_failed_task: the task's main attributes as
// Task.serialize gives them.
func failedTask(t *Task) map[string]any {
	args := map[string]any{}
	for k, v := range t.Args {
		args[k] = v
	}
	if t.FreeForm != "" {
		args["_raw_params"] = t.FreeForm
	}
	out := map[string]any{"name": t.Name, "action": t.Action, "args": args,
		"when": strSlice(t.When), "tags": strSlice(t.Tags), "register": t.Register}
	if out["name"] == "" {
		out["name"] = t.Action
	}
	return out
}

// anyErrorsFatal is the task's any_errors_fatal: its own, its blocks',
// the play's.
func (r *runner) anyErrorsFatal(play *Play, t *Task) bool {
	if t.AnyErrorsFatal != nil {
		return *t.AnyErrorsFatal
	}
	return play.AnyErrorsFatal
}

// setHostFact sets a host's fact (a non-persistent fact: above play vars,
// below extra vars). r.mu is held.
func (r *runner) setHostFact(h, k string, v any) {
	if r.facts[h] == nil {
		r.facts[h] = map[string]any{}
	}
	r.facts[h][k] = v
	if _, extra := r.o.ExtraVars[k]; !extra && r.vars[h] != nil {
		r.vars[h][k] = v
	}
}

// hostOrder lists the hosts of set in first-seen order.
func hostOrder(set map[string]bool, seen []string) []string {
	var out []string
	for _, h := range seen {
		if set[h] {
			out = append(out, h)
		}
	}
	for h := range set {
		if !contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// includeTasks runs an include_tasks task: the hosts whose conditions
// hold get the file's blocks after the include (PlayIterator.add_tasks),
// and the lockstep gets its tasks.
func (r *runner) includeTasks(it *playIterator, play *Play, t *Task, hosts []string) {
	r.banner(t)
	var included []string
	for _, h := range hosts {
		ok := true
		if len(t.When) > 0 {
			var err error
			if ok, err = r.conds(t.When, r.taskVars(h, t)); err != nil {
				var b strings.Builder
				_, line := r.fail(h, t, &b, map[string]any{"failed": true, "msg": err.Error()})
				r.printf("%s", line)
				r.hostFailed(it, play, t, h, nil, map[string]bool{})
				continue
			}
		}
		r.mu.Lock()
		s := r.stats(h)
		if !ok {
			s.Skipped++
		} else {
			s.Ok++
		}
		r.mu.Unlock()
		if !ok {
			r.printf("skipping: [%s]\n", h)
			continue
		}
		included = append(included, h)
	}
	if len(included) == 0 {
		return
	}
	r.printf("included: %s for %s\n", t.IncludePath, strings.Join(included, ", "))
	blocks := filterBlocks(t.Include, func(x *Task) bool { return r.taskSelected(play, x) })
	if len(blocks) == 0 {
		return
	}
	for _, h := range included {
		insertTasks(it.states[h], blocks)
	}
	it.allTasks = slices.Concat(it.allTasks[:it.cur], leafTasks(blocks), it.allTasks[it.cur:])
}
