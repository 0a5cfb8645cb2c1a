package ansible

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Blocks are the play's blocks in the order they run: pre_tasks, tasks,
// post_tasks.
func (p *Play) Blocks() []*Task {
	return slices.Concat(p.PreTasks, p.Tasks, p.PostTasks)
}

// AllTasks are every task of the play's blocks (block, rescue and always
// sections) in Block.get_tasks order.
func (p *Play) AllTasks() []*Task {
	return leafTasks(p.Blocks())
}

// EffectiveTags are the task's tags with the play's (tags are
// inherited).
func (p *Play) EffectiveTags(t *Task) []string {
	set := map[string]bool{}
	for _, x := range slices.Concat(p.Tags, t.Tags) {
		set[x] = true
	}
	out := make([]string, 0, len(set))
	for x := range set {
		out = append(out, x)
	}
	sort.Strings(out)
	return out
}

// ShouldRun is Taggable.evaluate_tags: whether a task with these
// (effective) tags runs under --tags only (empty: all) and --skip-tags
// skip.
func ShouldRun(tags, only, skip []string) bool {
	if len(only) == 0 {
		only = []string{"all"}
	}
	untagged := len(tags) == 0
	if untagged {
		tags = []string{"untagged"}
	}
	has := func(list []string, x string) bool { return slices.Contains(list, x) }
	meets := func(list []string) bool {
		for _, x := range tags {
			if has(list, x) {
				return true
			}
		}
		return false
	}
	run := true
	if len(only) > 0 {
		run = false
		switch {
		case has(tags, "always"):
			run = true
		case has(only, "all") && !has(tags, "never"):
			run = true
		case meets(only):
			run = true
		case has(only, "tagged") && !untagged && !has(tags, "never"):
			run = true
		}
	}
	if run && len(skip) > 0 {
		switch {
		case has(skip, "all"):
			if !has(tags, "always") || has(skip, "always") {
				run = false
			}
		case meets(skip):
			run = false
		case has(skip, "tagged") && !untagged:
			run = false
		}
	}
	return run
}

// TaskList is what `ansible-playbook --list-tasks [--tags T] [--skip-tags
// S] FILE` prints (file as given on the command line; a play's tags in
// sorted order where Ansible prints a set).
func (pb *Playbook) TaskList(only, skip []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nplaybook: %s\n", pb.File)
	for i, p := range pb.Plays {
		tags := slices.Clone(p.Tags)
		sort.Strings(tags)
		tags = slices.Compact(tags)
		fmt.Fprintf(&b, "\n  play #%d (%s): %s\tTAGS: [%s]\n", i+1, p.Hosts, p.Name, strings.Join(tags, ","))
		b.WriteString("    tasks:\n")
		// ansible-playbook lists the block sections only (not rescue
		// or always), after the tags filter.
		keep := func(t *Task) bool { return ShouldRun(p.EffectiveTags(t), only, skip) }
		var walk func(list []*Task)
		walk = func(list []*Task) {
			for _, t := range list {
				if t.IsBlock {
					walk(t.Block)
					continue
				}
				name := t.Name
				if name == "" {
					name = t.Action
				}
				fmt.Fprintf(&b, "      %s\tTAGS: [%s]\n", name, strings.Join(p.EffectiveTags(t), ", "))
			}
		}
		for _, blk := range filterBlocks(p.Blocks(), keep) {
			walk(blk.Block)
		}
	}
	return b.String()
}
