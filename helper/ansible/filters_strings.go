package ansible

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// String literals inside templates, as Ansible reads them, rewritten for
// gonja. Ansible (Templar._escape_backslashes) doubles the backslashes of
// string literals inside {{ }} before Jinja sees them, so that there a
// literal is taken as written ('\d+' is backslash, d, plus; '\1' is
// backslash, one); inside {% %} Jinja decodes the literal as Python's
// unicode_escape ('\n' a newline, '\1' the character 1, '\d' kept).
// gonja decodes literals with Go's escapes and rejects the others ('\d'
// is a syntax error): each literal is rewritten so that gonja reads the
// string Ansible would.

// jinjaStringLiterals rewrites the string literals of template s.
func jinjaStringLiterals(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	i := 0
	for i < len(s) {
		// plain text up to the next tag
		j := strings.IndexByte(s[i:], '{')
		if j < 0 || i+j+1 >= len(s) {
			b.WriteString(s[i:])
			break
		}
		j += i
		open := s[j : j+2]
		var close string
		switch open {
		case "{{":
			close = "}}"
		case "{%":
			close = "%}"
		case "{#":
			end := strings.Index(s[j+2:], "#}")
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			b.WriteString(s[i : j+2+end+2])
			i = j + 2 + end + 2
			continue
		default:
			b.WriteString(s[i : j+1])
			i = j + 1
			continue
		}
		b.WriteString(s[i : j+2])
		i = j + 2
		// a {% raw %} block is kept as is
		if open == "{%" {
			rest := strings.TrimLeft(s[i:], "-+ \t\n")
			if strings.HasPrefix(rest, "raw") && strings.HasPrefix(strings.TrimLeft(rest[3:], " \t\n-+"), "%}") {
				end := strings.Index(s[i:], "endraw")
				if end < 0 {
					b.WriteString(s[i:])
					return b.String()
				}
				b.WriteString(s[i : i+end])
				i += end
				continue
			}
		}
		// the tag's expression: literals rewritten up to the closing tag
		for i < len(s) {
			c := s[i]
			if strings.HasPrefix(s[i:], close) {
				b.WriteString(close)
				i += 2
				break
			}
			if c != '\'' && c != '"' {
				b.WriteByte(c)
				i++
				continue
			}
			// Jinja's string: a quote, then anything with backslash
			// escapes, up to the same quote.
			k := i + 1
			for k < len(s) && s[k] != c {
				if s[k] == '\\' {
					k++
				}
				k++
			}
			if k >= len(s) {
				b.WriteString(s[i:])
				return b.String()
			}
			raw := s[i+1 : k]
			content := raw
			if open == "{%" {
				content = pyUnicodeEscape(raw)
			}
			b.WriteString(gonjaLiteral(content))
			i = k + 1
		}
	}
	return b.String()
}

// gonjaLiteral is a literal gonja reads as content.
func gonjaLiteral(content string) string {
	if strings.HasSuffix(content, `\`) || strings.Contains(content, `\"`) || strings.Contains(content, `\'`) {
		// gonja's lexer cannot end a literal after a backslash nor keep
		// a backslash before a quote: give it the characters as escapes.
		var b strings.Builder
		b.WriteByte('\'')
		for _, r := range content {
			switch r {
			case '\\':
				b.WriteString(`\x5c`)
			case '\'':
				b.WriteString(`\x27`)
			case '"':
				b.WriteString(`\x22`)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('\'')
		return b.String()
	}
	return "'" + strings.ReplaceAll(strings.ReplaceAll(content, `\`, `\\`), "'", `\'`) + "'"
}

// pyUnicodeEscape decodes s as Python's unicode_escape codec (unknown
// escapes are kept with their backslash).
func pyUnicodeEscape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		c := s[i+1]
		simple := map[byte]string{'\\': `\`, '\'': "'", '"': `"`, 'n': "\n", 't': "\t", 'r': "\r", 'a': "\a", 'b': "\b", 'f': "\f", 'v': "\v", '\n': ""}
		if r, ok := simple[c]; ok {
			b.WriteString(r)
			i++
			continue
		}
		switch {
		case c >= '0' && c <= '7':
			j, v := i+1, 0
			for k := 0; k < 3 && j < len(s) && s[j] >= '0' && s[j] <= '7'; k++ {
				v = v*8 + int(s[j]-'0')
				j++
			}
			b.WriteRune(rune(v))
			i = j - 1
		case c == 'x' || c == 'u' || c == 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
			if i+2+n <= len(s) {
				if v, err := strconv.ParseUint(s[i+2:i+2+n], 16, 32); err == nil && utf8.ValidRune(rune(v)) {
					b.WriteRune(rune(v))
					i += 1 + n
					continue
				}
			}
			b.WriteByte('\\')
		default:
			b.WriteByte('\\')
		}
	}
	return b.String()
}
