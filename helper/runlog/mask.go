package runlog

import (
	"bytes"
	"regexp"
	"sync"
)

// Mask replaces secrets in a transcript: literal values (a captured become
// password, known keys from the environment) and configured patterns.
type Mask struct {
	mu       sync.Mutex
	literals [][]byte
	patterns []*regexp.Regexp
}

// Replacement is what a secret becomes.
const Replacement = "********"

// NewMask compiles the patterns.
func NewMask(patterns []string) (*Mask, error) {
	m := &Mask{}
	for _, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, err
		}
		m.patterns = append(m.patterns, re)
	}
	return m, nil
}

// AddLiteral adds a value to mask wherever it appears (values shorter
// than 3 bytes are too common to mask safely and are ignored).
func (m *Mask) AddLiteral(s string) {
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

// Apply returns b with every secret replaced.
func (m *Mask) Apply(b []byte) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := b
	for _, l := range m.literals {
		out = bytes.ReplaceAll(out, l, []byte(Replacement))
	}
	for _, re := range m.patterns {
		out = re.ReplaceAllFunc(out, func(match []byte) []byte {
			// Keep "key=" / "key: " so the transcript still reads.
			if i := bytes.IndexAny(match, "=:"); i >= 0 && i < len(match)-1 {
				j := i + 1
				for j < len(match) && (match[j] == ' ' || match[j] == '\t') {
					j++
				}
				return append(append([]byte{}, match[:j]...), Replacement...)
			}
			return []byte(Replacement)
		})
	}
	return out
}

// MaskString is Apply for strings.
func (m *Mask) MaskString(s string) string { return string(m.Apply([]byte(s))) }
