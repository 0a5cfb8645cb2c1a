package ansible

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
)

// Redialer is an Executor that can drop a host's kept connection, so that
// the host's next command dials again: wait_for_connection's reset
// between attempts.
type Redialer interface {
	Redial(host, user string) // user: as ExecRequest.User
}

// Prompts are the pause tasks of the playbook that read from the
// operator's terminal: a prompt, or no time (wait for Enter). Without a
// terminal they are refused before anything runs.
func (pb *Playbook) Prompts() []*Task {
	var out []*Task
	var walk func(ts []*Task)
	walk = func(ts []*Task) {
		for _, t := range leafTasks(ts) {
			if t.Module == "pause" && pauseReads(t) {
				out = append(out, t)
			}
			walk(t.Include)
		}
	}
	for _, p := range pb.Plays {
		walk(p.PreTasks)
		walk(p.Tasks)
		walk(p.PostTasks)
	}
	return out
}

func pauseReads(t *Task) bool {
	_, p := t.Args["prompt"]
	_, m := t.Args["minutes"]
	_, s := t.Args["seconds"]
	return p || (!m && !s)
}

const pyTime = "2006-01-02 15:04:05.000000"

// pause is the pause action: it waits seconds or minutes, or (at a
// terminal) for the operator's answer to its prompt. It runs once for
// the hosts (the strategy gives it the first).
func (r *runner) pause(ctx context.Context, t *Task, vars map[string]any) map[string]any {
	arg := func(k string) (any, bool, error) {
		v, ok := t.Args[k]
		if !ok {
			return nil, false, nil
		}
		x, err := r.t.RenderValue(v, vars)
		return x, true, err
	}
	echo := true
	if v, ok, err := arg("echo"); err != nil {
		return map[string]any{"failed": true, "msg": err.Error()}
	} else if ok {
		if b, ok := pyBoolean(v); ok {
			echo = b
		} else {
			return map[string]any{"failed": true, "msg": fmt.Sprintf("argument 'echo' is of type %T and we were unable to convert to bool", v)}
		}
	}
	seconds, unit := -1, "minutes"
	for _, k := range []string{"minutes", "seconds"} {
		v, ok, err := arg(k)
		if err != nil {
			return map[string]any{"failed": true, "msg": err.Error()}
		}
		if !ok {
			continue
		}
		n, err := pauseInt(v)
		if err != nil {
			return map[string]any{"failed": true, "msg": fmt.Sprintf("argument '%s' is of type %T and we were unable to convert to int: %v", k, v, err)}
		}
		if k == "minutes" {
			seconds = n * 60
		} else {
			seconds, unit = n, "seconds"
		}
		break
	}
	promptText := ""
	if v, ok, err := arg("prompt"); err != nil {
		return map[string]any{"failed": true, "msg": err.Error()}
	} else if ok {
		promptText = pyStr(v)
	}
	hidden := ""
	if !echo {
		hidden = " (output is hidden)"
	}
	name := strings.TrimSpace(t.displayName())
	prompt := fmt.Sprintf("[%s]\n%s%s:", name, "Press enter to continue, Ctrl+C to interrupt", hidden)
	if promptText != "" {
		prompt = fmt.Sprintf("[%s]\n%s%s:", name, promptText, hidden)
	}
	res := map[string]any{"changed": false, "rc": 0, "stderr": "", "stdout": "", "echo": echo, "user_input": ""}
	start := time.Now()
	res["start"] = start.Format(pyTime)
	r.mu.Lock()
	if seconds >= 0 {
		seconds = max(seconds, 1)
		r.printf("Pausing for %d seconds%s\n(ctrl+C then 'C' = continue early, ctrl+C then 'A' = abort)\r\n", seconds, hidden)
		if promptText != "" {
			r.printf("%s\n", prompt)
		}
	} else {
		r.printf("%s\n", prompt)
	}
	r.mu.Unlock()
	if seconds >= 0 {
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(seconds) * time.Second):
		}
	} else {
		if r.o.Prompt == nil {
			// Playbook.Prompts refuses this before the run; a caller
			// that did not check gets Ansible's behaviour.
			fmt.Fprintf(r.o.Warn, "[WARNING]: Not waiting for response to prompt as stdin is not interactive\n")
		} else {
			in, err := r.o.Prompt(ctx, "", echo)
			if err != nil {
				return map[string]any{"failed": true, "msg": "user requested abort!"}
			}
			res["user_input"] = in
		}
	}
	d := time.Since(start).Seconds()
	res["stop"] = time.Now().Format(pyTime)
	res["delta"] = int(d)
	if unit == "minutes" {
		d /= 60
	}
	res["stdout"] = fmt.Sprintf("Paused for %s %s", pyFloat(math.Round(d*100)/100), unit)
	return res
}

// waitForConnection is wait_for_connection without Python: after delay,
// it drops the host's connection and runs true over a new one until one
// answers, every sleep seconds, for at most timeout; each attempt bounded
// by connect_timeout. Skipped in check mode, as Ansible skips it.
func (r *runner) waitForConnection(ctx context.Context, play *Play, t *Task, h string, vars map[string]any) map[string]any {
	if r.checkMode(play, t) {
		return map[string]any{"skipped": true}
	}
	get := func(k string, def int) (int, error) {
		v, ok := t.Args[k]
		if !ok {
			return def, nil
		}
		x, err := r.t.RenderValue(v, vars)
		if err != nil {
			return 0, err
		}
		return pauseInt(x)
	}
	var vals [4]int
	for i, k := range []string{"connect_timeout", "delay", "sleep", "timeout"} {
		n, err := get(k, [4]int{5, 0, 1, 600}[i])
		if err != nil {
			return map[string]any{"failed": true, "msg": fmt.Sprintf("wait_for_connection: %s: %v", k, err)}
		}
		vals[i] = n
	}
	connectTimeout, delay, sleep, timeout := vals[0], vals[1], vals[2], vals[3]
	start := time.Now()
	wait := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	if delay > 0 && !wait(time.Duration(delay)*time.Second) {
		return map[string]any{"failed": true, "msg": "interrupted", "elapsed": int(time.Since(start).Seconds())}
	}
	end := time.Now().Add(time.Duration(timeout) * time.Second)
	lastErr := "no attempt was made"
	for time.Now().Before(end) {
		if rd, ok := r.exec.(Redialer); ok {
			rd.Redial(h, play.RemoteUser)
		}
		bound := time.Duration(connectTimeout) * time.Second
		actx, cancel := context.WithTimeout(ctx, bound)
		er := r.exec.Exec(actx, h, ExecRequest{Line: "true", User: play.RemoteUser, Timeout: bound})
		cancel()
		switch {
		case er.Reached && !er.Stopped && er.RC == 0:
			return map[string]any{"changed": false, "elapsed": int(time.Since(start).Seconds())}
		case !er.Reached || er.Stopped:
			lastErr = er.Msg
		default:
			lastErr = fmt.Sprintf("true exited %d: %s", er.RC, strings.TrimSpace(er.Stderr))
		}
		if ctx.Err() != nil || !wait(time.Duration(sleep)*time.Second) {
			break
		}
	}
	return map[string]any{"failed": true, "msg": "timed out waiting for ping module test: " + lastErr, "elapsed": int(time.Since(start).Seconds())}
}
