package ansible

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// Ansible's filters and tests, with ansible-core 2.14's (and Jinja
// 3.1's) semantics, for the templates `ops play` renders. Regular
// expressions are Python's as far as Go's regexp (RE2) allows: no
// lookarounds or backreferences in patterns (an error), \d \w \s are
// ASCII, `$` without multiline is the end of the text only (Python's also
// matches before a final newline), and empty matches right after a match
// are not replaced (Python 3.7+ replaces them).

// AllowedFilters are the filters ops play implements (the static scan
// refuses any other).
func AllowedFilters() []string {
	return []string{"default", "d", "bool", "int", "string", "lower", "upper", "trim", "join", "length",
		"first", "last", "regex_search", "regex_replace", "quote", "to_json"}
}

// AllowedTests are the tests ops play implements.
func AllowedTests() []string {
	return []string{"defined", "undefined", "failed", "succeeded", "success", "changed", "change",
		"skipped", "skip", "match", "search"}
}

// AnsibleFilters installs Ansible's filters and tests (AllowedFilters,
// AllowedTests) in t, replacing gonja's where their semantics differ.
func AnsibleFilters(t *Templar) {
	t.AddFilter("default", jinjaDefault)
	t.AddFilter("d", jinjaDefault)
	t.AddFilter("bool", filterOf(ansibleBool))
	t.AddFilter("int", filterInt)
	t.AddFilter("string", filterOf(func(v any, _ *exec.VarArgs) (any, error) { return pyStr(v), nil }))
	t.AddFilter("lower", filterOf(func(v any, _ *exec.VarArgs) (any, error) { return strings.ToLower(pyStr(v)), nil }))
	t.AddFilter("upper", filterOf(func(v any, _ *exec.VarArgs) (any, error) { return strings.ToUpper(pyStr(v)), nil }))
	t.AddFilter("trim", filterOf(filterTrim))
	t.AddFilter("join", filterOf(filterJoin))
	t.AddFilter("length", filterOf(filterLength))
	t.AddFilter("first", filterOf(func(v any, _ *exec.VarArgs) (any, error) { return firstLast(v, true) }))
	t.AddFilter("last", filterOf(func(v any, _ *exec.VarArgs) (any, error) { return firstLast(v, false) }))
	t.AddFilter("regex_search", filterOf(filterRegexSearch))
	t.AddFilter("regex_replace", filterOf(filterRegexReplace))
	t.AddFilter("quote", filterOf(func(v any, _ *exec.VarArgs) (any, error) {
		if v == nil {
			return "''", nil
		}
		return shellQuote(pyStr(v)), nil
	}))
	t.AddFilter("to_json", filterOf(filterToJSON))

	t.AddTest("defined", func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) (bool, error) { return !in.IsError(), nil })
	t.AddTest("undefined", func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) (bool, error) { return in.IsError(), nil })
	t.AddTest("failed", resultTest("failed", func(r map[string]any) bool { return truthy(r["failed"]) }))
	t.AddTest("succeeded", resultTest("failed", func(r map[string]any) bool { return !truthy(r["failed"]) }))
	t.AddTest("success", resultTest("failed", func(r map[string]any) bool { return !truthy(r["failed"]) }))
	t.AddTest("changed", resultTest("changed", resultChanged))
	t.AddTest("change", resultTest("changed", resultChanged))
	t.AddTest("skipped", resultTest("skipped", func(r map[string]any) bool { return truthy(r["skipped"]) }))
	t.AddTest("skip", resultTest("skipped", func(r map[string]any) bool { return truthy(r["skipped"]) }))
	t.AddTest("match", regexTest(true))
	t.AddTest("search", regexTest(false))
}

// plain is a gonja value as the package's plain Go values.
func plain(v *exec.Value) any {
	return fromGonja(v.ToGoSimpleType(false))
}

// filterOf wraps fn: undefined (error) input propagates, fn's error
// becomes the template's.
func filterOf(fn func(v any, params *exec.VarArgs) (any, error)) exec.FilterFunction {
	return func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if in.IsError() {
			return in
		}
		out, err := fn(plain(in), params)
		if err != nil {
			return exec.AsValue(err)
		}
		return exec.AsValue(out)
	}
}

// arg is positional argument i or keyword argument name.
func arg(params *exec.VarArgs, i int, name string) (any, bool) {
	if params == nil {
		return nil, false
	}
	if i < len(params.Args) {
		return plain(params.Args[i]), true
	}
	if v, ok := params.KwArgs[name]; ok {
		return plain(v), true
	}
	return nil, false
}

// ansibleBool is Ansible's bool filter (to_bool): None and booleans as
// they are, 'yes'/'on'/'1'/'true' (any case) and 1 true, anything else
// false.
func ansibleBool(v any, _ *exec.VarArgs) (any, error) {
	switch v := v.(type) {
	case nil, bool:
		return v, nil
	case string:
		switch strings.ToLower(v) {
		case "yes", "on", "1", "true":
			return true, nil
		}
	case int:
		return v == 1, nil
	case float64:
		return v == 1, nil
	}
	return false, nil
}

// filterInt is Jinja's int(value, default=0, base=10).
func filterInt(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	def := any(0)
	if d, ok := arg(params, 0, "default"); ok {
		def = d
	}
	base := 10
	if b, ok := arg(params, 1, "base"); ok {
		if bi, ok := b.(int); ok {
			base = bi
		}
	}
	v := plain(in)
	switch v := v.(type) {
	case bool:
		if v {
			return exec.AsValue(1)
		}
		return exec.AsValue(0)
	case int:
		return exec.AsValue(v)
	case float64:
		if math.IsInf(v, 0) {
			return exec.AsValue(errors.New("cannot convert float infinity to integer"))
		}
		if math.IsNaN(v) {
			return exec.AsValue(def)
		}
		return exec.AsValue(int(v))
	case string:
		if i, ok := pyParseInt(v, base); ok {
			return exec.AsValue(i)
		}
		f, ok := pyParseFloat(v)
		if !ok || math.IsNaN(f) {
			return exec.AsValue(def)
		}
		if math.IsInf(f, 0) {
			return exec.AsValue(errors.New("cannot convert float infinity to integer"))
		}
		return exec.AsValue(int(f))
	}
	return exec.AsValue(def)
}

// pyParseInt is Python's int(s, base) for str.
func pyParseInt(s string, base int) (int, bool) {
	s = strings.TrimFunc(s, pyIsSpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	lower := strings.ToLower(s)
	prefix := map[int]string{16: "0x", 8: "0o", 2: "0b"}
	if base == 0 {
		base = 10
		for b, p := range prefix {
			if strings.HasPrefix(lower, p) {
				base = b
				s = s[2:]
				if strings.HasPrefix(s, "_") {
					s = s[1:]
				}
			}
		}
		if base == 10 && len(s) > 1 && strings.Trim(s, "0_") != "" && s[0] == '0' {
			return 0, false
		}
	} else if p, ok := prefix[base]; ok && strings.HasPrefix(lower, p) {
		s = s[2:]
		if strings.HasPrefix(s, "_") {
			s = s[1:]
		}
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return 0, false
	}
	s = strings.ReplaceAll(s, "_", "")
	if base < 2 || base > 36 {
		return 0, false
	}
	n, ok := new(big.Int).SetString(s, base)
	if !ok {
		return 0, false
	}
	if neg {
		n.Neg(n)
	}
	if !n.IsInt64() {
		return 0, false
	}
	return int(n.Int64()), true
}

var pyFloatRe = regexp.MustCompile(`(?i)^[+-]?(?:(?:[0-9](?:_?[0-9])*)?\.?[0-9](?:_?[0-9])*(?:e[+-]?[0-9](?:_?[0-9])*)?|[0-9](?:_?[0-9])*\.(?:e[+-]?[0-9](?:_?[0-9])*)?|inf|infinity|nan)$`)

// pyParseFloat is Python's float(s) for str.
func pyParseFloat(s string) (float64, bool) {
	s = strings.TrimFunc(s, pyIsSpace)
	if !pyFloatRe.MatchString(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// pyIsSpace is Python's str.isspace for one character.
func pyIsSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

func filterTrim(v any, params *exec.VarArgs) (any, error) {
	s := pyStr(v)
	if c, ok := arg(params, 0, "chars"); ok && c != nil {
		return strings.Trim(s, pyStr(c)), nil
	}
	return strings.TrimFunc(s, pyIsSpace), nil
}

// pyIter is what Python's iter() gives: a list's items, a string's
// characters, a mapping's keys.
func pyIter(v any) ([]any, error) {
	switch v := v.(type) {
	case []any:
		return v, nil
	case string:
		out := make([]any, 0, len(v))
		for _, r := range v {
			out = append(out, string(r))
		}
		return out, nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = k
		}
		return out, nil
	}
	return nil, fmt.Errorf("'%s' object is not iterable", pyTypeOf(v))
}

func pyTypeOf(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

func filterJoin(v any, params *exec.VarArgs) (any, error) {
	items, err := pyIter(v)
	if err != nil {
		return nil, err
	}
	sep := ""
	if d, ok := arg(params, 0, "d"); ok {
		sep = pyStr(d)
	}
	attr, hasAttr := arg(params, 1, "attribute")
	parts := make([]string, len(items))
	for i, x := range items {
		if hasAttr && attr != nil {
			m, ok := x.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("'%s' object has no attribute '%s'", pyTypeOf(x), pyStr(attr))
			}
			x = m[pyStr(attr)]
		}
		parts[i] = pyStr(x)
	}
	return strings.Join(parts, sep), nil
}

func filterLength(v any, _ *exec.VarArgs) (any, error) {
	switch v := v.(type) {
	case string:
		return utf8.RuneCountInString(v), nil
	case []any:
		return len(v), nil
	case map[string]any:
		return len(v), nil
	}
	return nil, fmt.Errorf("object of type '%s' has no len()", pyTypeOf(v))
}

func firstLast(v any, first bool) (any, error) {
	items, err := pyIter(v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		if first {
			return nil, errors.New("No first item, sequence was empty.")
		}
		return nil, errors.New("No last item, sequence was empty.")
	}
	if first {
		return items[0], nil
	}
	return items[len(items)-1], nil
}

// pyRegexp compiles a Python pattern for Go.
func pyRegexp(pattern string, ignorecase, multiline bool) (*regexp.Regexp, error) {
	// \Z is Go's \z; the rest of Python's syntax that RE2 knows is the same.
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == '\\' && i+1 < len(pattern) {
			if pattern[i+1] == 'Z' {
				b.WriteString(`\z`)
			} else {
				b.WriteString(pattern[i : i+2])
			}
			i++
			continue
		}
		b.WriteByte(pattern[i])
	}
	flags := ""
	if ignorecase {
		flags += "i"
	}
	if multiline {
		flags += "m"
	}
	p := b.String()
	if flags != "" {
		p = "(?" + flags + ")" + p
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("regular expression %q: %v", pattern, err)
	}
	return re, nil
}

func regexFlags(params *exec.VarArgs) (bool, bool) {
	var ic, ml bool
	if params != nil {
		if v, ok := params.KwArgs["ignorecase"]; ok {
			ic = v.IsTrue()
		}
		if v, ok := params.KwArgs["multiline"]; ok {
			ml = v.IsTrue()
		}
	}
	return ic, ml
}

// filterRegexSearch is Ansible's regex_search(value, regex, *groups,
// ignorecase, multiline): the match, or the listed groups ('\\1',
// '\\g<name>'), or None.
func filterRegexSearch(v any, params *exec.VarArgs) (any, error) {
	if len(params.Args) == 0 {
		return nil, errors.New("regex_search() missing 1 required positional argument: 'regex'")
	}
	ic, ml := regexFlags(params)
	re, err := pyRegexp(pyStr(plain(params.Args[0])), ic, ml)
	if err != nil {
		return nil, err
	}
	var groups []int
	for _, a := range params.Args[1:] {
		s := pyStr(plain(a))
		switch {
		case strings.HasPrefix(s, `\g`):
			m := regexp.MustCompile(`^\\g<(\S+)>`).FindStringSubmatch(s)
			if m == nil {
				return nil, errors.New("Unknown argument")
			}
			idx := re.SubexpIndex(m[1])
			if n, err := strconv.Atoi(m[1]); err == nil {
				idx = n
			}
			if idx < 0 || idx > re.NumSubexp() {
				return nil, fmt.Errorf("no such group: %s", m[1])
			}
			groups = append(groups, idx)
		case strings.HasPrefix(s, `\`):
			m := regexp.MustCompile(`^\\(\d+)`).FindStringSubmatch(s)
			if m == nil {
				return nil, errors.New("Unknown argument")
			}
			n, _ := strconv.Atoi(m[1])
			if n > re.NumSubexp() {
				return nil, errors.New("no such group")
			}
			groups = append(groups, n)
		default:
			return nil, errors.New("Unknown argument")
		}
	}
	s := pyStr(v)
	m := re.FindStringSubmatchIndex(s)
	if m == nil {
		return nil, nil
	}
	if len(groups) == 0 {
		return s[m[0]:m[1]], nil
	}
	out := make([]any, len(groups))
	for i, g := range groups {
		if m[2*g] >= 0 {
			out[i] = s[m[2*g]:m[2*g+1]]
		}
	}
	return out, nil
}

// filterRegexReplace is Ansible's regex_replace(value, pattern,
// replacement, ignorecase, multiline): Python's re.sub, replacement
// templates included (\1, \g<1>, \g<name>, escapes).
func filterRegexReplace(v any, params *exec.VarArgs) (any, error) {
	get := func(i int, name string, def any) any {
		if x, ok := arg(params, i, name); ok {
			return x
		}
		return def
	}
	pattern := pyStr(get(0, "pattern", ""))
	repl := pyStr(get(1, "replacement", ""))
	ic := truthy(get(2, "ignorecase", false))
	ml := truthy(get(3, "multiline", false))
	re, err := pyRegexp(pattern, ic, ml)
	if err != nil {
		return nil, err
	}
	tmpl, err := pyReplTemplate(repl, re)
	if err != nil {
		return nil, err
	}
	s := pyStr(v)
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		b.WriteString(s[last:m[0]])
		for _, p := range tmpl {
			if p.group < 0 {
				b.WriteString(p.lit)
			} else if m[2*p.group] >= 0 {
				b.WriteString(s[m[2*p.group]:m[2*p.group+1]])
			}
		}
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

type replPart struct {
	lit   string
	group int // -1: lit
}

// pyReplTemplate parses a re.sub replacement as sre_parse.parse_template.
func pyReplTemplate(repl string, re *regexp.Regexp) ([]replPart, error) {
	var parts []replPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, replPart{lit: lit.String(), group: -1})
			lit.Reset()
		}
	}
	group := func(n int) error {
		if n > re.NumSubexp() {
			return fmt.Errorf("invalid group reference %d", n)
		}
		flush()
		parts = append(parts, replPart{group: n})
		return nil
	}
	isOct := func(c byte) bool { return c >= '0' && c <= '7' }
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '\\' {
			lit.WriteByte(c)
			continue
		}
		if i+1 >= len(repl) {
			return nil, errors.New("bad escape (end of pattern)")
		}
		i++
		c = repl[i]
		switch {
		case c == 'g':
			end := strings.IndexByte(repl[i:], '>')
			if i+1 >= len(repl) || repl[i+1] != '<' || end < 0 {
				return nil, errors.New("missing group name")
			}
			name := repl[i+2 : i+end]
			i += end
			n, err := strconv.Atoi(name)
			if err != nil {
				n = re.SubexpIndex(name)
				if n < 0 {
					return nil, fmt.Errorf("unknown group name '%s'", name)
				}
			}
			if err := group(n); err != nil {
				return nil, err
			}
		case c == '0':
			// an octal escape of up to three digits
			val := 0
			j := i
			for k := 0; k < 3 && j < len(repl) && isOct(repl[j]); k++ {
				val = val*8 + int(repl[j]-'0')
				j++
			}
			lit.WriteRune(rune(val))
			i = j - 1
		case isDigit(c):
			if i+2 < len(repl) && isOct(c) && isOct(repl[i+1]) && isOct(repl[i+2]) {
				val := int(c-'0')*64 + int(repl[i+1]-'0')*8 + int(repl[i+2]-'0')
				if val > 0o377 {
					return nil, errors.New("octal escape value outside of range 0-0o377")
				}
				lit.WriteRune(rune(val))
				i += 2
				continue
			}
			n := int(c - '0')
			if i+1 < len(repl) && isDigit(repl[i+1]) {
				n = n*10 + int(repl[i+1]-'0')
				i++
			}
			if err := group(n); err != nil {
				return nil, err
			}
		default:
			esc := map[byte]string{'n': "\n", 't': "\t", 'r': "\r", 'a': "\a", 'b': "\b", 'f': "\f", 'v': "\v", '\\': `\`}
			if e, ok := esc[c]; ok {
				lit.WriteString(e)
			} else if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
				return nil, fmt.Errorf("bad escape \\%c", c)
			} else {
				lit.WriteByte('\\')
				lit.WriteByte(c)
			}
		}
	}
	flush()
	return parts, nil
}

// shellQuote is Python's shlex.quote.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r < 128 && (r == '_' || r == '@' || r == '%' || r == '+' || r == '=' || r == ':' || r == ',' || r == '.' ||
			r == '/' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// filterToJSON is Ansible's to_json: json.dumps with Python's default
// separators and ensure_ascii; mapping keys are sorted (ops does not keep
// the order they were written in).
func filterToJSON(v any, params *exec.VarArgs) (any, error) {
	o := pyJSONOptions{ensureASCII: true, indent: -1}
	if params != nil {
		for k, x := range params.KwArgs {
			switch k {
			case "indent":
				if !x.IsNil() {
					o.indent = x.Integer()
				}
			case "ensure_ascii":
				o.ensureASCII = x.IsTrue()
			case "sort_keys":
			default:
				return nil, fmt.Errorf("to_json: unsupported argument %s", k)
			}
		}
	}
	var b strings.Builder
	if err := writeDumps(&b, v, o, 0); err != nil {
		return nil, err
	}
	return b.String(), nil
}

type pyJSONOptions struct {
	ensureASCII bool
	indent      int // -1: none
}

func writeDumps(b *strings.Builder, v any, o pyJSONOptions, depth int) error {
	itemSep, nl := ", ", func(int) {}
	if o.indent >= 0 {
		itemSep = ","
		nl = func(d int) {
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(" ", o.indent*d))
		}
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int, *big.Int:
		fmt.Fprint(b, v)
	case float64:
		switch {
		case math.IsNaN(v):
			b.WriteString("NaN")
		case math.IsInf(v, 1):
			b.WriteString("Infinity")
		case math.IsInf(v, -1):
			b.WriteString("-Infinity")
		default:
			b.WriteString(pyFloat(v))
		}
	case string:
		writeJSONString(b, v, o.ensureASCII)
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteString(itemSep)
			}
			nl(depth + 1)
			if err := writeDumps(b, x, o, depth+1); err != nil {
				return err
			}
		}
		nl(depth)
		b.WriteByte(']')
	case map[string]any:
		if len(v) == 0 {
			b.WriteString("{}")
			return nil
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(itemSep)
			}
			nl(depth + 1)
			writeJSONString(b, k, o.ensureASCII)
			b.WriteString(": ")
			if err := writeDumps(b, v[k], o, depth+1); err != nil {
				return err
			}
		}
		nl(depth)
		b.WriteByte('}')
	default:
		return fmt.Errorf("Object of type %T is not JSON serializable", v)
	}
	return nil
}

func writeJSONString(b *strings.Builder, s string, ascii bool) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || ascii && r > 0x7e:
				if r > 0xffff {
					r -= 0x10000
					fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
				} else {
					fmt.Fprintf(b, `\u%04x`, r)
				}
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// resultTest is one of Ansible's task-result tests: the value must be a
// registered result (a mapping).
func resultTest(name string, fn func(map[string]any) bool) exec.TestFunction {
	return func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) (bool, error) {
		if in.IsError() {
			return false, errors.New(in.Error())
		}
		r, ok := plain(in).(map[string]any)
		if !ok {
			return false, fmt.Errorf("The '%s' test expects a dictionary", name)
		}
		return fn(r), nil
	}
}

// resultChanged is Ansible's changed test: `changed`, else any of a
// loop's results changed.
func resultChanged(r map[string]any) bool {
	if c, ok := r["changed"]; ok {
		return truthy(c)
	}
	if res, ok := r["results"].([]any); ok && len(res) > 0 {
		if _, ok := res[0].(map[string]any); ok {
			for _, x := range res {
				if m, ok := x.(map[string]any); ok && truthy(m["changed"]) {
					return true
				}
			}
		}
	}
	return false
}

// regexTest is Ansible's match (anchored at the start) or search test.
func regexTest(anchored bool) exec.TestFunction {
	return func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) (bool, error) {
		if in.IsError() {
			return false, errors.New(in.Error())
		}
		get := func(i int, name string, def any) any {
			if x, ok := arg(params, i, name); ok {
				return x
			}
			return def
		}
		pattern := pyStr(get(0, "pattern", ""))
		ic := truthy(get(1, "ignorecase", false))
		ml := truthy(get(2, "multiline", false))
		if anchored {
			pattern = `\A(?:` + pattern + `)`
		}
		re, err := pyRegexp(pattern, ic, ml)
		if err != nil {
			return false, err
		}
		return re.MatchString(pyStr(plain(in))), nil
	}
}
