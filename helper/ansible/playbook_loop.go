package ansible

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoopControl is a task's loop_control (ansible.playbook.loop_control):
// the loop variable's name, an index variable, the label shown for each
// item, a pause between items, and ansible_loop (extended).
type LoopControl struct {
	LoopVar  string // "item" unless written
	IndexVar string
	Label    string // a template, rendered per item; "" shows the item
	Pause    float64
	Extended bool
	// ExtendedAllItems puts allitems into ansible_loop (default true).
	ExtendedAllItems bool
}

// loopControl reads loop_control: a mapping of LoopControl's attributes.
// Label may be a template (Ansible renders it per item); the others are
// read before running, so a template there is refused.
func (l *pbLoader) loopControl(n *yaml.Node) (*LoopControl, error) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil, l.syntax(n, "the `loop_control` value must be specified as a dictionary and cannot be a variable itself (though it can contain variables)")
	}
	es, err := l.entries(n)
	if err != nil {
		return nil, err
	}
	lc := &LoopControl{LoopVar: "item", ExtendedAllItems: true}
	for _, e := range es {
		v, err := l.value(e.v)
		if err != nil {
			return nil, err
		}
		if s, ok := v.(string); ok && IsTemplate(s) && e.key != "label" {
			return nil, l.refuse(e.v, "a templated loop_control."+e.key, "ops play reads it before running")
		}
		switch e.key {
		case "loop_var", "index_var":
			s, err := l.str(e.v)
			if err != nil {
				return nil, err
			}
			if s != "" && !isIdentifier(s) {
				return nil, l.syntax(e.v, "Invalid variable name in loop_control.%s: '%s'", e.key, s)
			}
			if e.key == "loop_var" {
				if s == "" {
					s = "item"
				}
				lc.LoopVar = s
			} else {
				lc.IndexVar = s
			}
		case "label":
			if lc.Label, err = l.str(e.v); err != nil {
				return nil, err
			}
		case "pause":
			switch x := v.(type) {
			case nil:
			case int:
				lc.Pause = float64(x)
			case float64:
				lc.Pause = x
			case string:
				f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
				if err != nil {
					return nil, l.syntax(e.v, "the field 'pause' has an invalid value (%s), and could not be converted to a float", x)
				}
				lc.Pause = f
			default:
				return nil, l.syntax(e.v, "the field 'pause' has an invalid value (%s), and could not be converted to a float", pyStr(v))
			}
		case "extended", "extended_allitems":
			b, err := l.boolean(e, e.key)
			if err != nil {
				return nil, err
			}
			if e.key == "extended" {
				lc.Extended = b != nil && *b
			} else {
				lc.ExtendedAllItems = b == nil || *b
			}
		default:
			return nil, l.syntax(e.k, "'%s' is not a valid attribute for a LoopControl", e.key)
		}
	}
	return lc, nil
}

// pauseArgs checks pause's arguments as its action plugin validates
// them: minutes or seconds (not both, each an int), prompt, echo.
func (l *pbLoader) pauseArgs(at *yaml.Node, t *Task, args map[string]any) error {
	_, m := args["minutes"]
	_, s := args["seconds"]
	if m && s {
		return l.syntax(at, "pause: parameters are mutually exclusive: minutes|seconds")
	}
	if t.FreeForm != "" {
		return l.syntax(at, "pause: this task has extra params, which pause does not take")
	}
	for _, k := range []string{"minutes", "seconds"} {
		v, ok := args[k]
		if !ok {
			continue
		}
		if str, isStr := v.(string); isStr && IsTemplate(str) {
			continue // rendered when the task runs
		}
		if _, err := pauseInt(v); err != nil {
			return l.syntax(at, "pause: argument '%s' is of type %T and we were unable to convert to int: %v", k, v, err)
		}
	}
	if e, ok := args["echo"]; ok {
		if str, isStr := e.(string); !isStr || !IsTemplate(str) {
			if _, ok := pyBoolean(e); !ok {
				return l.syntax(at, "pause: argument 'echo' is of type %T and we were unable to convert to bool", e)
			}
		}
	}
	return nil
}

// pauseInt is the plugin's int() of minutes or seconds.
func pauseInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case float64:
		return int(x), nil
	case string:
		return strconv.Atoi(strings.TrimSpace(x))
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return 0, strconv.ErrSyntax
}

// waitArgs checks wait_for_connection's arguments: connect_timeout,
// delay, sleep and timeout, each int()ed by the plugin.
func (l *pbLoader) waitArgs(at *yaml.Node, args map[string]any) error {
	for k, v := range args {
		if str, isStr := v.(string); isStr && IsTemplate(str) {
			continue
		}
		if _, err := pauseInt(v); err != nil {
			return l.syntax(at, "wait_for_connection: %s must be an integer, got %s", k, pyRepr(v))
		}
	}
	return nil
}
