package ansible

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// JSON as ansible-inventory writes it: Python's json.dumps with
// sort_keys=True, indent=4, ensure_ascii=False and Ansible's encoder
// (vaulted values as {"__ansible_vault": …}, unsafe ones as
// {"__ansible_unsafe": …}).

// MarshalPython encodes v as ansible-inventory does.
func MarshalPython(v any) []byte {
	var b strings.Builder
	writePyJSON(&b, v, 0)
	return []byte(b.String())
}

func writePyJSON(b *strings.Builder, v any, depth int) {
	indent := func(d int) {
		b.WriteByte('\n')
		b.WriteString(strings.Repeat("    ", d))
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case string:
		writePyString(b, v)
	case Unsafe:
		writePyJSON(b, map[string]any{"__ansible_unsafe": string(v)}, depth)
	case Vault:
		writePyJSON(b, map[string]any{"__ansible_vault": v.Ciphertext}, depth)
	case int, int64, *big.Int:
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
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			indent(depth + 1)
			writePyJSON(b, x, depth+1)
		}
		indent(depth)
		b.WriteByte(']')
	case []string:
		l := make([]any, len(v))
		for i, s := range v {
			l[i] = s
		}
		writePyJSON(b, l, depth)
	case map[string]any:
		if len(v) == 0 {
			b.WriteString("{}")
			return
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			indent(depth + 1)
			writePyString(b, k)
			b.WriteString(": ")
			writePyJSON(b, v[k], depth+1)
		}
		indent(depth)
		b.WriteByte('}')
	default:
		writePyString(b, fmt.Sprint(v))
	}
}

// writePyString is json.dumps of a string with ensure_ascii=False.
func writePyString(b *strings.Builder, s string) { writeJSONString(b, s, false) }

// pyFloat is Python's repr of a float.
func pyFloat(f float64) string {
	if math.IsInf(f, 0) {
		if f > 0 {
			return "inf"
		}
		return "-inf"
	}
	if math.IsNaN(f) {
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expS, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expS)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return fmt.Sprintf("%se%s%02d", mant, sign, exp)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// pyStr is Python's str() of a value, as Jinja prints it.
func pyStr(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case string:
		return v
	case Unsafe:
		return string(v)
	case Vault:
		return v.Ciphertext
	case bool:
		if v {
			return "True"
		}
		return "False"
	case float64:
		return pyFloat(v)
	case int, int64, *big.Int:
		return fmt.Sprint(v)
	}
	return pyRepr(v)
}

// pyRepr is Python's repr() (containers print their items' repr).
func pyRepr(v any) string {
	switch v := v.(type) {
	case string:
		return pyQuote(v)
	case Unsafe:
		return pyQuote(string(v))
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = pyRepr(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []string:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = pyQuote(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyQuote(k) + ": " + pyRepr(v[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return pyStr(v)
}

func pyQuote(s string) string {
	q := "'"
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = `"`
	}
	var b strings.Builder
	b.WriteString(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case string(r) == q:
			b.WriteString(`\` + q)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString(q)
	return b.String()
}
