package ansible

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// onHost runs the task (each loop item) on one host and counts it.
func (r *runner) onHost(ctx context.Context, play *Play, t *Task, h string) (hostOutcome, string) {
	vars := r.taskVars(h, t)
	var b strings.Builder
	items, loop, err := r.loopItems(t, vars)
	if err != nil {
		return r.fail(h, t, &b, map[string]any{"failed": true, "msg": err.Error()})
	}
	if !loop {
		res := r.runOnce(ctx, play, t, h, vars, nil)
		return r.count(h, t, res, &b, "")
	}
	lc := t.LoopControl
	if lc == nil {
		lc = &LoopControl{LoopVar: "item", ExtendedAllItems: true}
	}
	// A loop: each item is run and shown; the task's result is the list
	// (TaskExecutor._run_loop).
	var results []any
	changed, failed, skippedAll := false, false, len(items) > 0
	var unreach map[string]any
	for i, item := range items {
		if i > 0 && lc.Pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(lc.Pause * float64(time.Second))):
			}
		}
		local := withVar(vars, lc.LoopVar, item)
		local["ansible_loop_var"] = lc.LoopVar
		if lc.IndexVar != "" {
			local[lc.IndexVar] = i
			local["ansible_index_var"] = lc.IndexVar
		}
		var ext map[string]any
		if lc.Extended {
			ext = loopExtended(items, i, lc.ExtendedAllItems)
			local["ansible_loop"] = ext
		}
		res := r.runOnce(ctx, play, t, h, local, item)
		res[lc.LoopVar] = item
		res["ansible_loop_var"] = lc.LoopVar
		if lc.IndexVar != "" {
			res[lc.IndexVar] = i
			res["ansible_index_var"] = lc.IndexVar
		}
		if ext != nil {
			res["ansible_loop"] = ext
		}
		shown := item
		if lc.Label != "" {
			v, err := r.t.RenderValue(lc.Label, local)
			if err != nil {
				res["failed"], res["msg"] = true, "Failed to template loop_control.label: "+err.Error()
			} else {
				shown = v
			}
		} else if lc.LoopVar != "item" {
			shown = item
		}
		results = append(results, res)
		label := "(item=" + pyStr(shown) + ")"
		switch {
		case res["unreachable"] == true:
			unreach = res
		case res["skipped"] == true:
			fmt.Fprintf(&b, "skipping: [%s] => %s \n", h, label)
		case res["failed"] == true:
			failed = true
			fmt.Fprintf(&b, "failed: [%s] %s => %s\n", h, label, resultJSON(stripInternal(res)))
		case res["changed"] == true:
			changed = true
			fmt.Fprintf(&b, "changed: [%s] => %s\n", h, label)
		default:
			fmt.Fprintf(&b, "ok: [%s] => %s\n", h, label)
		}
		if res["skipped"] != true {
			skippedAll = false
		}
		if unreach != nil || ctx.Err() != nil {
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

// loopExtended is ansible_loop for item i (loop_control.extended).
func loopExtended(items []any, i int, allItems bool) map[string]any {
	n := len(items)
	m := map[string]any{
		"index": i + 1, "index0": i, "first": i == 0, "last": i+1 == n,
		"length": n, "revindex": n - i, "revindex0": n - i - 1,
	}
	if allItems {
		m["allitems"] = items
	}
	if i+1 < n {
		m["nextitem"] = items[i+1]
	}
	if i > 0 {
		m["previtem"] = items[i-1]
	}
	return m
}

func withVar(vars map[string]any, k string, v any) map[string]any {
	local := make(map[string]any, len(vars)+4)
	for kk, vv := range vars {
		local[kk] = vv
	}
	local[k] = v
	return local
}

// loopItems renders a task's loop: loop's list, or with_items' terms
// flattened one level (the items lookup).
func (r *runner) loopItems(t *Task, vars map[string]any) ([]any, bool, error) {
	if t.Loop == nil {
		return nil, false, nil
	}
	if t.LoopWith == "items" {
		return r.withItems(t.Loop, vars)
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

// withItems is listify_lookup_plugin_terms then the items lookup's
// _flatten: a string is rendered (stripped), a scalar becomes a list of
// one, and lists inside the list are spliced in.
func (r *runner) withItems(loop any, vars map[string]any) ([]any, bool, error) {
	if s, ok := loop.(string); ok {
		loop = strings.TrimSpace(s)
	}
	v, err := r.t.RenderValue(loop, vars)
	if err != nil {
		return nil, true, err
	}
	var terms []any
	switch x := v.(type) {
	case []any:
		terms = x
	case []string:
		terms = strSlice(x)
	case map[string]any:
		return nil, true, fmt.Errorf("with_items over a mapping (%s) is not supported by ops play: give it a list", pyRepr(x))
	default:
		terms = []any{v}
	}
	var out []any
	for _, term := range terms {
		switch x := term.(type) {
		case []any:
			out = append(out, x...)
		case []string:
			out = append(out, strSlice(x)...)
		default:
			out = append(out, term)
		}
	}
	return out, true, nil
}
