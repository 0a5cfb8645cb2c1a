package ansible

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// AllTasks are the play's tasks in the order they run: pre_tasks, tasks,
// post_tasks.
func (p *Play) AllTasks() []*Task {
	return slices.Concat(p.PreTasks, p.Tasks, p.PostTasks)
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
		for _, t := range p.AllTasks() {
			eff := p.EffectiveTags(t)
			if !ShouldRun(eff, only, skip) {
				continue
			}
			name := t.Name
			if name == "" {
				name = t.Action
			}
			fmt.Fprintf(&b, "      %s\tTAGS: [%s]\n", name, strings.Join(eff, ", "))
		}
	}
	return b.String()
}
