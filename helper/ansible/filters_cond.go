package ansible

import (
	"fmt"
	"strings"
)

// Condition evaluates one when / changed_when / failed_when condition
// (a Task's When element) as ansible-core 2.14's Conditional does: "" is
// true; the condition is templated once (a condition holding {{ }}), a
// result that is not a string is taken for its truth, "" is false; the
// string is then evaluated as `{% if COND %} True {% else %} False {%
// endif %}`, so that its string literals are read as Ansible reads them.
func (t *Templar) Condition(cond string, vars map[string]any) (bool, error) {
	if cond == "" {
		return true, nil
	}
	v, err := t.Render(cond, vars)
	if err != nil {
		return false, fmt.Errorf("The conditional check '%s' failed. The error was: %v", cond, err)
	}
	s, ok := v.(string)
	if !ok {
		return truthy(v), nil
	}
	if s == "" {
		return false, nil
	}
	r, err := t.Render("{% if "+s+" %} True {% else %} False {% endif %}", vars)
	if err != nil {
		return false, fmt.Errorf("The conditional check '%s' failed. The error was: %v", cond, err)
	}
	switch strings.TrimSpace(pyStr(r)) {
	case "True":
		return true, nil
	case "False":
		return false, nil
	}
	return false, fmt.Errorf("The conditional check '%s' failed. The error was: unable to evaluate conditional: %s", cond, cond)
}

// Conditions is evaluate_conditional: true when every condition is (an
// empty list is true), stopping at the first false one.
func (t *Templar) Conditions(conds []string, vars map[string]any) (bool, error) {
	for _, c := range conds {
		ok, err := t.Condition(c, vars)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}
