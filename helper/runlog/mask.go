package runlog

import (
	"bytes"
	"regexp"
	"slices"
	"sync"
)

// Mask replaces secrets in a transcript: literal values (a captured become
// password, known keys from the environment) and configured patterns.
//
// Matching is done on the text with terminal escape sequences removed (a
// secret with a colour change inside is still a secret), and what Apply
// returns is that text: the run log is for reading, not for replaying on a
// terminal.
type Mask struct {
	mu       sync.Mutex
	literals [][]byte
	patterns []pattern
}

type pattern struct {
	re     *regexp.Regexp
	groups []int // indexes of the groups named "secret"; none: the heuristic
}

// Replacement is what a secret becomes.
const Replacement = "********"

// SecretGroup names the part of a pattern's match that is the secret: a
// pattern with groups of that name has only those groups replaced (every
// group of the name that took part in the match). A pattern without one
// keeps a leading "key=" / "key: " (and an opening quote) and replaces the
// rest of its match.
const SecretGroup = "secret"

// NewMask compiles the patterns.
func NewMask(patterns []string) (*Mask, error) {
	m := &Mask{}
	for _, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, err
		}
		pt := pattern{re: re}
		for i, name := range re.SubexpNames() {
			if name == SecretGroup {
				pt.groups = append(pt.groups, i)
			}
		}
		m.patterns = append(m.patterns, pt)
	}
	return m, nil
}

// AddLiteral adds a value to mask wherever it appears (values shorter
// than 3 bytes are too common to mask safely and are ignored). Escape
// sequences in the value are removed, as they are from what is masked.
func (m *Mask) AddLiteral(s string) {
	s = string(StripEscapes([]byte(s)))
	if len(s) < 3 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.literals {
		if string(l) == s {
			return
		}
	}
	m.literals = append(m.literals, []byte(s))
}

// Apply returns b with escape sequences removed and every secret replaced.
func (m *Mask) Apply(b []byte) []byte {
	s := StripEscapes(b)
	return render(s, m.spans(s))
}

// MaskString is Apply for strings.
func (m *Mask) MaskString(s string) string { return string(m.Apply([]byte(s))) }

// ApplyCut is Apply keeping at most limit bytes of the text (escapes
// removed) and reports whether it cut. Secrets are found on all of b
// first, so a cut never keeps the start of a secret: the cut is at the
// last line end before the limit (if one is near), else at the limit, and
// moves back to the start of a secret it would split.
func (m *Mask) ApplyCut(b []byte, limit int) ([]byte, bool) {
	s := StripEscapes(b)
	sp := m.spans(s)
	if len(s) <= limit {
		return render(s, sp), false
	}
	c := max(limit, 0)
	if i := bytes.LastIndexByte(s[:c], '\n'); i >= 0 && c-i <= 64<<10 {
		c = i + 1
	}
	for _, x := range sp {
		if x.start < c && c < x.end {
			c = x.start
		}
	}
	kept := sp[:0:0]
	for _, x := range sp {
		if x.end <= c {
			kept = append(kept, x)
		}
	}
	return render(s[:c], kept), true
}

// span is a secret's place in the text: [start, end).
type span struct{ start, end int }

// spans finds every secret in s, sorted and merged.
func (m *Mask) spans(s []byte) []span {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []span
	for _, l := range m.literals {
		for off := 0; ; {
			i := bytes.Index(s[off:], l)
			if i < 0 {
				break
			}
			out = append(out, span{off + i, off + i + len(l)})
			off += i + len(l)
		}
	}
	for _, p := range m.patterns {
		for _, loc := range p.re.FindAllSubmatchIndex(s, -1) {
			if len(p.groups) == 0 {
				if start := valueStart(s[loc[0]:loc[1]]); start < loc[1]-loc[0] {
					out = append(out, span{loc[0] + start, loc[1]})
				}
				continue
			}
			for _, g := range p.groups {
				if a, b := loc[2*g], loc[2*g+1]; a >= 0 && b > a {
					out = append(out, span{a, b})
				}
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	slices.SortFunc(out, func(a, b span) int { return a.start - b.start })
	merged := out[:1]
	for _, x := range out[1:] {
		last := &merged[len(merged)-1]
		if x.start <= last.end {
			last.end = max(last.end, x.end)
			continue
		}
		merged = append(merged, x)
	}
	return merged
}

// valueStart is where the value begins in a match without a secret group:
// after the first "=" or ":" and the blanks and opening quote that follow,
// so "key=" / "key: " / `"key": "` still read. 0: the whole match.
func valueStart(match []byte) int {
	i := bytes.IndexAny(match, "=:")
	if i < 0 || i == len(match)-1 {
		return 0
	}
	j := i + 1
	for j < len(match) && (match[j] == ' ' || match[j] == '\t') {
		j++
	}
	if j < len(match)-1 && (match[j] == '"' || match[j] == '\'') {
		j++
	}
	return j
}

// render replaces the spans of s.
func render(s []byte, sp []span) []byte {
	if len(sp) == 0 {
		return s
	}
	var b bytes.Buffer
	b.Grow(len(s))
	prev := 0
	for _, x := range sp {
		b.Write(s[prev:x.start])
		b.WriteString(Replacement)
		prev = x.end
	}
	b.Write(s[prev:])
	return b.Bytes()
}

// StripEscapes removes terminal escape sequences: CSI (ESC [ … final),
// OSC, DCS, SOS, PM and APC strings (ESC ] … up to BEL or ESC \), and
// two-byte and character-set sequences (ESC 7, ESC ( B, …). A sequence cut
// off at the end of b is removed too.
func StripEscapes(b []byte) []byte {
	if bytes.IndexByte(b, 0x1b) < 0 {
		return b
	}
	var e escapes
	return e.strip(make([]byte, 0, len(b)), b)
}

// escapes is the state of StripEscapes across writes.
type escapes struct{ state byte }

const (
	escText   = iota
	escEsc    // after ESC
	escCSI    // inside ESC [
	escNF     // ESC followed by intermediates (ESC ( B)
	escString // inside OSC, DCS, SOS, PM, APC
	escStrEsc // ESC inside a string: ST if "\" follows
)

// strip appends to dst what of p is not an escape sequence.
func (e *escapes) strip(dst, p []byte) []byte {
	for _, c := range p {
		switch e.state {
		case escText:
			if c == 0x1b {
				e.state = escEsc
				continue
			}
			dst = append(dst, c)
		case escEsc:
			switch {
			case c == '[':
				e.state = escCSI
			case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
				e.state = escString
			case c >= 0x20 && c <= 0x2f:
				e.state = escNF
			case c == 0x1b:
				// ESC ESC: the first is dropped, the second starts anew.
			case c >= 0x30 && c <= 0x7e:
				e.state = escText
			default: // a control character: ESC is dropped, the byte kept
				e.state = escText
				dst = append(dst, c)
			}
		case escCSI, escNF:
			switch {
			case e.state == escCSI && c >= 0x40 && c <= 0x7e,
				e.state == escNF && c >= 0x30 && c <= 0x7e:
				e.state = escText
			case c >= 0x20 && c <= 0x3f:
				// parameters and intermediates
			case c == 0x1b:
				e.state = escEsc
			default: // malformed: the sequence ends, the byte is kept
				e.state = escText
				dst = append(dst, c)
			}
		case escString:
			switch c {
			case 0x07, 0x18, 0x1a: // BEL ends OSC; CAN and SUB cancel
				e.state = escText
			case 0x1b:
				e.state = escStrEsc
			}
		case escStrEsc:
			if c == '\\' {
				e.state = escText
			} else if c != 0x1b {
				e.state = escString
			}
		}
	}
	return dst
}
