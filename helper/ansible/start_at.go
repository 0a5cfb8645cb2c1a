package ansible

import "regexp"

// --start-at-task as ansible-core 2.14's PlayIterator applies it: each
// host of the first batch whose play has a matching task (its name, or
// the name shown, equal or matching as a shell pattern) starts there;
// once a batch has started at it, the rest of the run is whole.

// fnmatch is Python's fnmatch.fnmatchcase.
func fnmatch(name, pattern string) bool {
	re, err := regexp.Compile(`^(?s:` + fnmatchTranslate(pattern) + `)$`)
	return err == nil && re.MatchString(name)
}

// startsAt is the PlayIterator's test of a task against --start-at-task.
func startsAt(t *Task, pattern string) bool {
	if t.Name == pattern || t.Name != "" && fnmatch(t.Name, pattern) {
		return true
	}
	n := t.displayName()
	return n == pattern || fnmatch(n, pattern)
}

// StartAtMatches says whether a task the tags select, in any play,
// matches --start-at-task where the PlayIterator looks for it: the tasks
// a host meets when nothing fails (block and always sections, not
// rescue; not what include_tasks adds). ansible-playbook runs nothing
// when none does.
func (pb *Playbook) StartAtMatches(pattern string, only, skip []string) bool {
	for _, p := range pb.Plays {
		var walk func(list []*Task) bool
		walk = func(list []*Task) bool {
			for _, t := range list {
				if t.IsBlock {
					if walk(t.Block) || walk(t.Always) {
						return true
					}
				} else if ShouldRun(p.EffectiveTags(t), only, skip) && startsAt(t, pattern) {
					return true
				}
			}
			return false
		}
		if walk(p.Blocks()) {
			return true
		}
	}
	return false
}

// startAt moves the batch's hosts to the task matching pattern; it says
// whether one matched.
func (it *playIterator) startAt(hosts []string, pattern string) bool {
	matched := false
	for _, h := range hosts {
		found := false
		for {
			s, t := it.peek(h)
			if s.run == stComplete {
				break
			}
			if t != nil && startsAt(t, pattern) {
				matched, found = true, true
				break
			}
			it.states[h] = s
		}
		if found {
			it.states[h].run = stSetup
			it.states[h].pendingSetup = false
		}
	}
	return matched
}
