package ansible

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"reflect"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
)

// Templar renders Jinja2 templates over Ansible variables (gonja
// underneath). Variables are given raw: a variable whose value is itself
// a template is rendered when a template uses it, as Ansible does. Each
// Templar has its own filters and tests (AddFilter, AddTest).
type Templar struct {
	cfg *config.Config
	env *exec.Environment
}

// NewTemplar returns a Templar with Jinja's builtin filters and tests;
// undefined variables are errors.
func NewTemplar() *Templar {
	cfg := config.New()
	cfg.StrictUndefined = true
	cfg.KeepTrailingNewline = true
	t := &Templar{cfg: cfg, env: &exec.Environment{
		Context:           exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables),
		Filters:           exec.NewFilterSet(map[string]exec.FilterFunction{}).Update(builtins.Filters),
		Tests:             exec.NewTestSet(map[string]exec.TestFunction{}).Update(builtins.Tests),
		ControlStructures: exec.NewControlStructureSet(map[string]parser.ControlStructureParser{}).Update(builtins.ControlStructures),
		Methods:           builtins.Methods,
	}}
	t.AddFilter("default", jinjaDefault)
	t.AddFilter("d", jinjaDefault)
	return t
}

// jinjaDefault is Jinja's default(value, default_value=”, boolean=False):
// only an undefined value (or a false one with boolean) takes the default;
// gonja's also replaces None.
func jinjaDefault(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	def := exec.AsValue("")
	if len(params.Args) > 0 {
		def = params.Args[0]
	} else if v, ok := params.KwArgs["default_value"]; ok {
		def = v
	}
	boolean := false
	if len(params.Args) > 1 {
		boolean = params.Args[1].IsTrue()
	} else if v, ok := params.KwArgs["boolean"]; ok {
		boolean = v.IsTrue()
	}
	if in.IsError() || boolean && !in.IsTrue() {
		return def
	}
	return in
}

// AddFilter adds or replaces a filter.
func (t *Templar) AddFilter(name string, fn exec.FilterFunction) {
	t.env.Filters.Update(exec.NewFilterSet(map[string]exec.FilterFunction{name: fn}))
}

// AddTest adds or replaces a test: fn is func(*exec.Evaluator,
// *exec.Value, *exec.VarArgs) (bool, error).
func (t *Templar) AddTest(name string, fn exec.TestFunction) {
	t.env.Tests.Update(exec.NewTestSet(map[string]exec.TestFunction{name: fn}))
}

// IsTemplate tells whether s holds Jinja syntax.
func IsTemplate(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%") || strings.Contains(s, "{#")
}

// Render renders expr with vars. A template that is exactly one
// `{{ expression }}` gives the expression's value with its type (a
// number, a list…); any other gives a string. A string without Jinja
// syntax is returned as is.
func (t *Templar) Render(expr string, vars map[string]any) (any, error) {
	r := &resolver{t: t, vars: vars, done: map[string]any{}, active: map[string]bool{}}
	return r.render(expr)
}

// RenderValue renders every string inside v (lists and mappings too);
// Unsafe strings are left as they are.
func (t *Templar) RenderValue(v any, vars map[string]any) (any, error) {
	r := &resolver{t: t, vars: vars, done: map[string]any{}, active: map[string]bool{}}
	return r.value(v)
}

// resolver renders one template, rendering the variables it uses first.
type resolver struct {
	t      *Templar
	vars   map[string]any
	done   map[string]any
	active map[string]bool
}

// VaultError is a vaulted value used where its value is needed.
type VaultError struct {
	Var  string
	File string
}

func (e *VaultError) Error() string {
	return fmt.Sprintf("variable %s is vault-encrypted (in %s): ops cannot decrypt it", e.Var, e.File)
}

func needsTemplating(v any) bool {
	switch v := v.(type) {
	case string:
		return IsTemplate(v)
	case []any:
		for _, x := range v {
			if needsTemplating(x) {
				return true
			}
		}
	case map[string]any:
		for _, x := range v {
			if needsTemplating(x) {
				return true
			}
		}
	case Vault:
		return true
	}
	return false
}

func (r *resolver) value(v any) (any, error) {
	switch v := v.(type) {
	case string:
		return r.render(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			y, err := r.value(x)
			if err != nil {
				return nil, err
			}
			out[i] = y
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			y, err := r.value(x)
			if err != nil {
				return nil, err
			}
			out[k] = y
		}
		return out, nil
	case Vault:
		return nil, &VaultError{File: v.File}
	}
	return v, nil
}

// variable is a variable's rendered value.
func (r *resolver) variable(name string) (any, error) {
	if v, ok := r.done[name]; ok {
		return v, nil
	}
	if r.active[name] {
		return nil, fmt.Errorf("recursive loop detected in template: %s uses itself", name)
	}
	r.active[name] = true
	defer delete(r.active, name)
	v, err := r.value(r.vars[name])
	if err != nil {
		var ve *VaultError
		if errors.As(err, &ve) && ve.Var == "" {
			ve.Var = name
		}
		return nil, err
	}
	r.done[name] = v
	return v, nil
}

func (r *resolver) render(expr string) (any, error) {
	if !IsTemplate(expr) {
		return expr, nil
	}
	// String literals as Ansible reads them (filters_strings.go).
	loader, err := loaders.NewMemoryLoader(map[string]string{"/t": jinjaStringLiterals(expr)})
	if err != nil {
		return nil, err
	}
	tpl, err := exec.NewTemplate("/t", r.t.cfg, loader, r.t.env)
	if err != nil {
		return nil, templateError(err)
	}
	// The variables this template names, rendered first.
	ctx := exec.NewContext(maps.Clone(r.vars))
	var failed error
	for _, key := range templateNames(tpl.Root()) {
		raw, ok := r.vars[key]
		if !ok {
			continue
		}
		if needsTemplating(raw) {
			v, err := r.variable(key)
			if err != nil {
				failed = err
				break
			}
			raw = v
		}
		ctx.Set(key, toGonja(raw))
	}
	if failed != nil {
		return nil, failed
	}
	// Exactly one {{ expression }}: its value, with its type.
	if root := tpl.Root(); len(root.Nodes) == 1 {
		if out, ok := root.Nodes[0].(*nodes.Output); ok && out.Condition == nil {
			ev := &exec.Evaluator{Config: r.t.cfg, Loader: loader, Environment: &exec.Environment{
				Context: r.t.env.Context.Inherit().Update(ctx), Filters: r.t.env.Filters, Tests: r.t.env.Tests,
				ControlStructures: r.t.env.ControlStructures, Methods: r.t.env.Methods,
			}}
			v := ev.Eval(out.Expression)
			if v.IsError() {
				return nil, templateError(v)
			}
			return fromGonja(v.Interface()), nil
		}
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, ctx); err != nil {
		return nil, templateError(err)
	}
	return b.String(), nil
}

// templateNames lists the names a template uses (gonja's walker does not
// go into expressions: reflection does).
func templateNames(root *nodes.Template) []string {
	var names []string
	seen := map[uintptr]bool{}
	nameType := reflect.TypeFor[nodes.Name]()
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
			if v.Elem().Type() == nameType {
				if n := v.Interface().(*nodes.Name); n.Name != nil {
					names = append(names, n.Name.Val)
				}
				return
			}
			walk(v.Elem())
		case reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.Map:
			it := v.MapRange()
			for it.Next() {
				walk(it.Value())
			}
		}
	}
	walk(reflect.ValueOf(root))
	return names
}

func templateError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "unable to execute template: ")
	return errors.New(strings.ReplaceAll(msg, "\n", " "))
}

// toGonja gives gonja plain Go values.
func toGonja(v any) any {
	switch v := v.(type) {
	case Unsafe:
		return string(v)
	case Vault:
		return v.Ciphertext
	case *big.Int:
		return float64FromBig(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = toGonja(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = toGonja(x)
		}
		return out
	}
	return v
}

func float64FromBig(b *big.Int) float64 {
	f, _ := new(big.Float).SetInt(b).Float64()
	return f
}

// fromGonja maps gonja's results back to the package's value types.
func fromGonja(v any) any {
	switch v := v.(type) {
	case int64:
		return int(v)
	case int32:
		return int(v)
	case float32:
		return float64(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = fromGonja(x)
		}
		return out
	case []string:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = x
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = fromGonja(x)
		}
		return out
	}
	return v
}
