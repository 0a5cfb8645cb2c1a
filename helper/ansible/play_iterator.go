package ansible

import "slices"

// A port of ansible-core 2.14's PlayIterator and HostState
// (executor/play_iterator.py): where each host is in the play's blocks,
// how a failure moves it into rescue and always, and when a host counts
// as failed. Fact gathering and handlers are not part of ops play, so the
// setup block is only a state and there are no flush_handlers blocks.

type runState int

const (
	stSetup runState = iota
	stTasks
	stRescue
	stAlways
	stComplete
)

type failState int

const (
	failNone   failState = 0
	failSetup  failState = 1
	failTasks  failState = 2
	failRescue failState = 4
	failAlways failState = 8
)

// hostState is HostState: a host's position in a list of blocks.
type hostState struct {
	blocks                                     []*Task
	curBlock, curRegular, curRescue, curAlways int
	run                                        runState
	fail                                       failState
	tasksChild, rescueChild, alwaysChild       *hostState
	didRescue                                  bool
	pendingSetup                               bool
}

func newHostState(blocks []*Task) *hostState {
	return &hostState{blocks: blocks, run: stSetup}
}

func (s *hostState) copy() *hostState {
	if s == nil {
		return nil
	}
	n := *s
	n.tasksChild = s.tasksChild.copy()
	n.rescueChild = s.rescueChild.copy()
	n.alwaysChild = s.alwaysChild.copy()
	return &n
}

func (s *hostState) block() *Task {
	if s.curBlock < len(s.blocks) {
		return s.blocks[s.curBlock]
	}
	return nil
}

func childState(b *Task) *hostState {
	return &hostState{blocks: []*Task{b}, run: stTasks}
}

// next is _get_next_task_from_state: it advances s and gives the task,
// nil when the host is done.
func next(s *hostState) *Task {
	for {
		blk := s.block()
		if blk == nil {
			s.run = stComplete
			return nil
		}
		var task *Task
		switch s.run {
		case stSetup:
			// No facts are gathered: the first trip sets the flag, the
			// second moves on to the tasks.
			if !s.pendingSetup {
				s.pendingSetup = true
			} else {
				s.pendingSetup = false
				s.run = stTasks
			}
		case stTasks:
			s.pendingSetup = false
			if s.tasksChild != nil {
				task = next(s.tasksChild)
				if checkFailed(s.tasksChild) {
					s.tasksChild = nil
					setFailed(s)
				} else if task == nil || s.tasksChild.run == stComplete {
					s.tasksChild = nil
					continue
				}
			} else {
				switch {
				case checkFailed(s):
					s.run = stRescue
				case s.curRegular >= len(blk.Block):
					s.run = stAlways
				default:
					task = blk.Block[s.curRegular]
					if task.IsBlock {
						s.tasksChild = childState(task)
						task = nil
					}
					s.curRegular++
				}
			}
		case stRescue:
			if s.rescueChild != nil {
				task = next(s.rescueChild)
				if checkFailed(s.rescueChild) {
					s.rescueChild = nil
					setFailed(s)
				} else if task == nil || s.rescueChild.run == stComplete {
					s.rescueChild = nil
					continue
				}
			} else {
				switch {
				case s.fail&failRescue == failRescue:
					s.run = stAlways
				case s.curRescue >= len(blk.Rescue):
					if len(blk.Rescue) > 0 {
						s.fail = failNone
					}
					s.run = stAlways
					s.didRescue = true
				default:
					task = blk.Rescue[s.curRescue]
					if task.IsBlock {
						s.rescueChild = childState(task)
						task = nil
					}
					s.curRescue++
				}
			}
		case stAlways:
			if s.alwaysChild != nil {
				task = next(s.alwaysChild)
				if checkFailed(s.alwaysChild) {
					s.alwaysChild = nil
					setFailed(s)
				} else if task == nil || s.alwaysChild.run == stComplete {
					s.alwaysChild = nil
					continue
				}
			} else {
				if s.curAlways >= len(blk.Always) {
					if s.fail != failNone {
						s.run = stComplete
					} else {
						s.curBlock++
						s.curRegular, s.curRescue, s.curAlways = 0, 0, 0
						s.run = stTasks
						s.tasksChild, s.rescueChild, s.alwaysChild = nil, nil, nil
						s.didRescue = false
					}
				} else {
					task = blk.Always[s.curAlways]
					if task.IsBlock {
						s.alwaysChild = childState(task)
						task = nil
					}
					s.curAlways++
				}
			}
		case stComplete:
			return nil
		}
		if task != nil {
			return task
		}
	}
}

// setFailed is _set_failed_state.
func setFailed(s *hostState) {
	switch s.run {
	case stSetup:
		s.fail |= failSetup
		s.run = stComplete
	case stTasks:
		if s.tasksChild != nil {
			setFailed(s.tasksChild)
			return
		}
		s.fail |= failTasks
		switch blk := s.block(); {
		case blk != nil && len(blk.Rescue) > 0:
			s.run = stRescue
		case blk != nil && len(blk.Always) > 0:
			s.run = stAlways
		default:
			s.run = stComplete
		}
	case stRescue:
		if s.rescueChild != nil {
			setFailed(s.rescueChild)
			return
		}
		s.fail |= failRescue
		if blk := s.block(); blk != nil && len(blk.Always) > 0 {
			s.run = stAlways
		} else {
			s.run = stComplete
		}
	case stAlways:
		if s.alwaysChild != nil {
			setFailed(s.alwaysChild)
			return
		}
		s.fail |= failAlways
		s.run = stComplete
	}
}

// checkFailed is _check_failed_state.
func checkFailed(s *hostState) bool {
	switch {
	case s == nil:
		return false
	case s.run == stRescue && checkFailed(s.rescueChild):
		return true
	case s.run == stAlways && checkFailed(s.alwaysChild):
		return true
	case s.fail != failNone:
		if s.run == stRescue && s.fail&failRescue == 0 {
			return false
		}
		if s.run == stAlways && s.fail&failAlways == 0 {
			return false
		}
		return !(s.didRescue && s.fail&failAlways == 0)
	case s.run == stTasks && checkFailed(s.tasksChild):
		blk := s.block()
		return !(blk != nil && len(blk.Rescue) > 0 && s.fail&failRescue == 0)
	}
	return false
}

// activeState is get_active_state: the innermost state running.
func activeState(s *hostState) *hostState {
	switch {
	case s.run == stTasks && s.tasksChild != nil:
		return activeState(s.tasksChild)
	case s.run == stRescue && s.rescueChild != nil:
		return activeState(s.rescueChild)
	case s.run == stAlways && s.alwaysChild != nil:
		return activeState(s.alwaysChild)
	}
	return s
}

// anyBlockRescuing is is_any_block_rescuing.
func anyBlockRescuing(s *hostState) bool {
	if s.run == stTasks {
		if blk := s.block(); blk != nil && len(blk.Rescue) > 0 {
			return true
		}
	}
	switch {
	case s.tasksChild != nil:
		return anyBlockRescuing(s.tasksChild)
	case s.rescueChild != nil:
		return anyBlockRescuing(s.rescueChild)
	case s.alwaysChild != nil:
		return anyBlockRescuing(s.alwaysChild)
	}
	return false
}

// playIterator is one batch's PlayIterator.
type playIterator struct {
	blocks   []*Task
	allTasks []*Task // for the linear strategy's lockstep
	cur      int
	states   map[string]*hostState
	order    []string // hosts in the order their states were made
}

func newPlayIterator(blocks []*Task, batch []string) *playIterator {
	it := &playIterator{blocks: blocks, allTasks: leafTasks(blocks), states: map[string]*hostState{}}
	for _, h := range batch {
		it.states[h] = newHostState(blocks)
		it.order = append(it.order, h)
	}
	return it
}

// state is get_host_state: a copy (a stub for a host outside the batch).
func (it *playIterator) state(h string) *hostState {
	s, ok := it.states[h]
	if !ok {
		s = newHostState(nil)
		it.states[h] = s
		it.order = append(it.order, h)
	}
	return s.copy()
}

// peek is get_next_task_for_host(peek=True).
func (it *playIterator) peek(h string) (*hostState, *Task) {
	s := it.state(h)
	if s.run == stComplete {
		return s, nil
	}
	t := next(s)
	return s, t
}

// advance is get_next_task_for_host(peek=False).
func (it *playIterator) advance(h string) {
	s, _ := it.peek(h)
	it.states[h] = s
}

func (it *playIterator) markFailed(h string) {
	s := it.state(h)
	setFailed(s)
	it.states[h] = s
}

func (it *playIterator) isFailed(h string) bool {
	s, ok := it.states[h]
	return ok && checkFailed(s)
}

// failedHosts is get_failed_hosts.
func (it *playIterator) failedHosts() []string {
	var out []string
	for _, h := range it.order {
		if checkFailed(it.states[h]) {
			out = append(out, h)
		}
	}
	return out
}

// lockstep is the linear strategy's _get_next_task_lockstep: the next
// task in the play's order that some host has next, the hosts that run
// it (their states advanced), and the others (which wait: noop).
func (it *playIterator) lockstep(hosts []string) (task *Task, run, wait []string) {
	type peeked struct {
		s *hostState
		t *Task
	}
	next := map[string]peeked{}
	tasks := map[*Task]bool{}
	var have []string
	for _, h := range hosts {
		s, t := it.peek(h)
		if t != nil {
			next[h] = peeked{s, t}
			tasks[t] = true
			have = append(have, h)
		}
	}
	if len(have) == 0 {
		return nil, nil, nil
	}
	for loops := 0; ; {
		if it.cur >= len(it.allTasks) {
			// Tasks left after clear_host_errors: from the start.
			it.cur = 0
			if loops++; loops > 1 {
				return nil, nil, nil // Ansible: an assertion error
			}
			continue
		}
		t := it.allTasks[it.cur]
		it.cur++
		if tasks[t] {
			task = t
			break
		}
	}
	for _, h := range have {
		if p := next[h]; p.t == task {
			it.states[h] = p.s
			run = append(run, h)
		} else {
			wait = append(wait, h)
		}
	}
	return task, run, wait
}

// insertTasks is _insert_tasks_into_state: the blocks go after the
// host's current task, in the section it is in (not into a failed
// host's tasks).
func insertTasks(s *hostState, blocks []*Task) {
	if s.fail != failNone && s.run == stTasks || len(blocks) == 0 {
		return
	}
	splice := func(list []*Task, at int) []*Task {
		return slices.Concat(list[:at], blocks, list[at:])
	}
	switch s.run {
	case stTasks, stRescue, stAlways:
		child := map[runState]*hostState{stTasks: s.tasksChild, stRescue: s.rescueChild, stAlways: s.alwaysChild}[s.run]
		if child != nil {
			insertTasks(child, blocks)
			return
		}
		b := *s.blocks[s.curBlock]
		switch s.run {
		case stTasks:
			b.Block = splice(b.Block, s.curRegular)
		case stRescue:
			b.Rescue = splice(b.Rescue, s.curRescue)
		default:
			b.Always = splice(b.Always, s.curAlways)
		}
		s.blocks = slices.Clone(s.blocks)
		s.blocks[s.curBlock] = &b
	}
}
