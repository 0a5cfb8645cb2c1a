package ansible

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// pyLiteral is ast.literal_eval as the INI inventory plugin uses it: a
// Python literal (numbers, strings, True/False/None, lists, tuples, dicts,
// sets) or, when s is none, ok false (the plugin then keeps the string).
func pyLiteral(s string) (any, bool) {
	p := &pyParser{s: strings.TrimLeft(s, " \t")}
	v, err := p.exprList(true)
	if err != nil {
		return nil, false
	}
	p.space()
	if p.i != len(p.s) {
		return nil, false
	}
	return v, true
}

type pyParser struct {
	s     string
	i     int
	depth int // open brackets: newlines are spaces inside them
}

var errPy = errors.New("not a literal")

func (p *pyParser) space() {
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == ' ' || c == '\t' || c == '\f':
			p.i++
		case (c == '\n' || c == '\r') && p.depth > 0:
			p.i++
		case c == '\\' && p.i+1 < len(p.s) && p.s[p.i+1] == '\n':
			p.i += 2
		case c == '#':
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
		case c == '\n' && p.depth == 0 && strings.TrimSpace(p.s[p.i:]) == "":
			p.i = len(p.s)
		default:
			return
		}
	}
}

func (p *pyParser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// exprList reads a, b, c (a tuple when there is a comma).
func (p *pyParser) exprList(top bool) (any, error) {
	first, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.peek() != ',' {
		return first, nil
	}
	items := []any{first}
	for p.peek() == ',' {
		p.i++
		c := p.peek()
		if c == 0 || c == ')' || c == ']' || c == '}' {
			break
		}
		v, err := p.expr()
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
	return items, nil
}

func (p *pyParser) expr() (any, error) {
	c := p.peek()
	if c == '-' || c == '+' {
		p.i++
		v, err := p.atom()
		if err != nil {
			return nil, err
		}
		switch n := v.(type) {
		case int:
			if c == '-' {
				return -n, nil
			}
			return n, nil
		case *big.Int:
			if c == '-' {
				return new(big.Int).Neg(n), nil
			}
			return n, nil
		case float64:
			if c == '-' {
				return -n, nil
			}
			return n, nil
		case bool:
			if c == '-' {
				return -btoi(n), nil
			}
			return btoi(n), nil
		}
		return nil, errPy
	}
	return p.atom()
}

func (p *pyParser) atom() (any, error) {
	c := p.peek()
	switch {
	case c == '[':
		p.i++
		p.depth++
		items, err := p.seq(']')
		return items, err
	case c == '(':
		p.i++
		p.depth++
		if p.peek() == ')' {
			p.i++
			p.depth--
			return []any{}, nil
		}
		v, err := p.exprList(false)
		if err != nil {
			return nil, err
		}
		if p.peek() != ')' {
			return nil, errPy
		}
		p.i++
		p.depth--
		return v, nil
	case c == '{':
		p.i++
		p.depth++
		return p.dictOrSet()
	case c == '"' || c == '\'':
		return p.strings("")
	case c >= '0' && c <= '9' || c == '.' && p.i+1 < len(p.s) && p.s[p.i+1] >= '0' && p.s[p.i+1] <= '9':
		return p.number()
	case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		start := p.i
		for p.i < len(p.s) && (p.s[p.i] == '_' || p.s[p.i] >= 'a' && p.s[p.i] <= 'z' || p.s[p.i] >= 'A' && p.s[p.i] <= 'Z' || p.s[p.i] >= '0' && p.s[p.i] <= '9') {
			p.i++
		}
		word := p.s[start:p.i]
		if p.i < len(p.s) && (p.s[p.i] == '"' || p.s[p.i] == '\'') {
			switch strings.ToLower(word) {
			case "r", "u", "b", "br", "rb":
				return p.strings(strings.ToLower(word))
			}
			return nil, errPy
		}
		switch word {
		case "True":
			return true, nil
		case "False":
			return false, nil
		case "None":
			return nil, nil
		}
	}
	return nil, errPy
}

func (p *pyParser) seq(end byte) ([]any, error) {
	items := []any{}
	for {
		if p.peek() == end {
			p.i++
			p.depth--
			return items, nil
		}
		v, err := p.expr()
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		switch p.peek() {
		case ',':
			p.i++
		case end:
		default:
			return nil, errPy
		}
	}
}

func (p *pyParser) dictOrSet() (any, error) {
	if p.peek() == '}' {
		p.i++
		p.depth--
		return map[string]any{}, nil
	}
	first, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.peek() != ':' {
		// A set: no order to keep; a list is the nearest.
		items := []any{first}
		switch p.peek() {
		case ',':
			p.i++
			rest, err := p.seq('}')
			return append(items, rest...), err
		case '}':
			p.i++
			p.depth--
			return items, nil
		}
		return nil, errPy
	}
	m := map[string]any{}
	key := first
	for {
		if p.peek() != ':' {
			return nil, errPy
		}
		p.i++
		v, err := p.expr()
		if err != nil {
			return nil, err
		}
		if _, ok := key.([]any); ok {
			return nil, errPy // unhashable
		}
		m[pyKey(key)] = v
		switch p.peek() {
		case ',':
			p.i++
			if p.peek() == '}' {
				p.i++
				p.depth--
				return m, nil
			}
			if key, err = p.expr(); err != nil {
				return nil, err
			}
		case '}':
			p.i++
			p.depth--
			return m, nil
		default:
			return nil, errPy
		}
	}
}

// pyKey is the JSON key json.dumps writes for a Python key.
func pyKey(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case nil:
		return "null"
	case bool:
		if k {
			return "true"
		}
		return "false"
	}
	return pyStr(k)
}

// strings reads one or more adjacent string literals (concatenated).
func (p *pyParser) strings(prefix string) (any, error) {
	var b strings.Builder
	isBytes := strings.Contains(prefix, "b")
	for {
		raw := strings.Contains(prefix, "r")
		if strings.Contains(prefix, "b") != isBytes {
			return nil, errPy // bytes and str cannot be mixed
		}
		s, err := p.oneString(raw)
		if err != nil {
			return nil, err
		}
		b.WriteString(s)
		save := p.i
		c := p.peek()
		if c == '"' || c == '\'' {
			prefix = ""
			continue
		}
		// A prefixed literal may follow (u'a' r'b').
		j := p.i
		for j < len(p.s) && strings.ContainsRune("rRuUbB", rune(p.s[j])) && j-p.i < 2 {
			j++
		}
		if j > p.i && j < len(p.s) && (p.s[j] == '"' || p.s[j] == '\'') {
			prefix = strings.ToLower(p.s[p.i:j])
			p.i = j
			continue
		}
		p.i = save
		return b.String(), nil
	}
}

func (p *pyParser) oneString(raw bool) (string, error) {
	q := p.s[p.i]
	triple := strings.HasPrefix(p.s[p.i:], strings.Repeat(string(q), 3))
	if triple {
		p.i += 3
	} else {
		p.i++
	}
	var b strings.Builder
	for {
		if p.i >= len(p.s) {
			return "", errPy
		}
		c := p.s[p.i]
		if triple && strings.HasPrefix(p.s[p.i:], strings.Repeat(string(q), 3)) {
			p.i += 3
			return b.String(), nil
		}
		if !triple && c == q {
			p.i++
			return b.String(), nil
		}
		if !triple && c == '\n' {
			return "", errPy
		}
		if c != '\\' {
			b.WriteByte(c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return "", errPy
		}
		e := p.s[p.i+1]
		if raw {
			b.WriteByte('\\')
			b.WriteByte(e)
			p.i += 2
			continue
		}
		p.i += 2
		switch e {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if p.i+n > len(p.s) {
				return "", errPy
			}
			r, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
			if err != nil || r > utf8.MaxRune {
				return "", errPy
			}
			b.WriteRune(rune(r))
			p.i += n
		default:
			if e >= '0' && e <= '7' {
				j := p.i - 1
				for j < len(p.s) && j < p.i+2 && p.s[j] >= '0' && p.s[j] <= '7' {
					j++
				}
				r, _ := strconv.ParseUint(p.s[p.i-1:j], 8, 32)
				b.WriteRune(rune(r))
				p.i = j
			} else {
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		}
	}
}

func (p *pyParser) number() (any, error) {
	start := p.i
	s := p.s
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	digits := func(ok func(byte) bool) bool {
		// digits with single underscores between them
		n := 0
		for p.i < len(s) {
			if ok(s[p.i]) {
				p.i++
				n++
			} else if s[p.i] == '_' && n > 0 && p.i+1 < len(s) && ok(s[p.i+1]) {
				p.i++
			} else {
				break
			}
		}
		return n > 0
	}
	if s[p.i] == '0' && p.i+1 < len(s) && strings.ContainsRune("xXoObB", rune(s[p.i+1])) {
		base := map[byte]int{'x': 16, 'o': 8, 'b': 2}[s[p.i+1]|0x20]
		p.i += 2
		if p.i < len(s) && s[p.i] == '_' {
			p.i++
		}
		ok := map[int]func(byte) bool{
			16: func(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' },
			8:  func(c byte) bool { return c >= '0' && c <= '7' },
			2:  func(c byte) bool { return c == '0' || c == '1' },
		}[base]
		ds := p.i
		if !digits(ok) {
			return nil, errPy
		}
		return pyInt(strings.ReplaceAll(s[ds:p.i], "_", ""), base)
	}
	isFloat := false
	if isDigit(s[p.i]) {
		digits(isDigit)
	}
	if p.i < len(s) && s[p.i] == '.' {
		isFloat = true
		p.i++
		if p.i < len(s) && isDigit(s[p.i]) {
			digits(isDigit)
		}
	}
	if p.i < len(s) && (s[p.i] == 'e' || s[p.i] == 'E') {
		save := p.i
		p.i++
		if p.i < len(s) && (s[p.i] == '+' || s[p.i] == '-') {
			p.i++
		}
		if p.i < len(s) && isDigit(s[p.i]) {
			digits(isDigit)
			isFloat = true
		} else {
			p.i = save
		}
	}
	if p.i < len(s) && (s[p.i] == 'j' || s[p.i] == 'J' || s[p.i] == '_' || s[p.i] >= 'a' && s[p.i] <= 'z' || s[p.i] >= 'A' && s[p.i] <= 'Z') {
		return nil, errPy // complex numbers and malformed literals
	}
	text := strings.ReplaceAll(s[start:p.i], "_", "")
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, errPy
		}
		return f, nil
	}
	// Decimal: no leading zeros except for zero itself.
	if len(text) > 1 && text[0] == '0' && strings.Trim(text, "0") != "" {
		return nil, errPy
	}
	return pyInt(text, 10)
}

func pyInt(digits string, base int) (any, error) {
	if n, err := strconv.ParseInt(digits, base, 64); err == nil {
		return int(n), nil
	}
	b, ok := new(big.Int).SetString(digits, base)
	if !ok {
		return nil, errPy
	}
	return b, nil
}
