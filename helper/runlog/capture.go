package runlog

import (
	"bytes"
	"io"
	"regexp"
	"sync"
)

// promptRe recognises password prompts at the end of the current output
// line: Ansible's "BECOME password:", sudo's "[sudo] password for u:",
// "Password:", ops's own -K prompt, "Vault password:" and the like.
var promptRe = regexp.MustCompile(`(?i)(password|passphrase)( for [^:\n]*)?:\s*$`)

// cutSlack is how much a transcript keeps past its limit, so that a secret
// that straddles the limit is still seen whole (and masked) before the cut.
const cutSlack = 64 << 10

// Transcript records what the operator saw (everything written to the
// output writers, in order, terminal escape sequences removed) and
// recognises password prompts in it. An answer is a line typed after a
// prompt was seen: the k-th line typed once a prompt is pending answers
// the oldest pending prompt. Input typed while no prompt is pending (the
// commands of an interactive shell, type-ahead) is dropped: it is neither
// recorded nor taken for a password. Answers are kept in memory only and
// handed to the Mask.
type Transcript struct {
	mu      sync.Mutex
	buf     []byte // escapes removed; up to limit+cutSlack bytes
	limit   int
	cut     bool    // more was written than buf holds
	esc     escapes // escape sequences split across writes
	scratch []byte
	line    []byte // the output line being written, for prompt detection
	pending int    // prompts seen and not yet answered
	typed   []byte // input since the oldest pending prompt was seen
	mask    *Mask

	// The newest prompt is on the current output line and nothing was
	// typed since it; textAfter: more text follows it on the line.
	onPromptLine, textAfter bool

	// Piped: input is not typed at a terminal but written ahead by a
	// script (echo pw | ops …), so lines read before a prompt wait for it
	// and answer prompts in order.
	Piped bool
}

// NewTranscript keeps up to limit bytes (the rest is cut, and says so).
func NewTranscript(limit int, mask *Mask) *Transcript {
	return &Transcript{limit: limit, mask: mask}
}

// write records output. It runs before the output reaches the operator, so
// a prompt is pending before anyone can have answered it.
func (t *Transcript) write(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.scratch = t.esc.strip(t.scratch[:0], p)
	text := t.scratch
	room := t.limit + cutSlack - len(t.buf)
	if room > 0 {
		t.buf = append(t.buf, text[:min(len(text), room)]...)
	}
	if len(text) > max(room, 0) {
		t.cut = true
	}
	for _, c := range text {
		if c == '\n' || c == '\r' {
			if t.onPromptLine && t.textAfter {
				// "password: x" and a line end, nothing typed: output
				// that looks like a prompt (a YAML file), not a prompt.
				t.pending--
			}
			t.onPromptLine, t.textAfter = false, false
			t.line = t.line[:0]
			continue
		}
		if t.onPromptLine && c != ' ' && c != '\t' {
			t.textAfter = true
		}
		t.line = append(t.line, c)
		if len(t.line) > 256 {
			t.line = t.line[len(t.line)-256:]
		}
		// A prompt ends in ": "; what follows on the line may already be
		// the program's next output.
		if (c == ':' || c == ' ') && promptRe.Match(t.line) {
			if t.pending == 0 && !t.Piped {
				t.typed = t.typed[:0] // typed before the prompt: not its answer
			}
			t.pending++
			t.onPromptLine, t.textAfter = true, false
			t.line = t.line[:0]
			if t.Piped {
				t.answer() // a line written ahead answers it
			}
		}
	}
}

// typedIn takes input: while a prompt is pending, complete lines answer it.
func (t *Transcript) typedIn(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.onPromptLine = false
	if t.pending == 0 && !t.Piped {
		return
	}
	t.typed = append(t.typed, p...)
	t.answer()
}

// answer matches complete typed lines to pending prompts, in order.
func (t *Transcript) answer() {
	for t.pending > 0 {
		i := bytes.IndexAny(t.typed, "\r\n")
		if i < 0 {
			break
		}
		t.mask.AddLiteral(string(edited(t.typed[:i])))
		crlf := t.typed[i] == '\r' && i+1 < len(t.typed) && t.typed[i+1] == '\n'
		t.typed = t.typed[i+1:]
		if crlf {
			t.typed = t.typed[1:]
		}
		t.pending--
	}
	switch {
	case t.pending == 0 && !t.Piped:
		t.typed = t.typed[:0] // typed after the last answer: nobody asked
	case len(t.typed) > 4096:
		t.typed = t.typed[len(t.typed)-4096:]
	}
}

// edited applies a terminal's line editing to a typed line (as a raw-mode
// read delivers it): DEL and backspace erase a byte, Ctrl-U the line.
func edited(line []byte) []byte {
	out := make([]byte, 0, len(line))
	for _, c := range line {
		switch c {
		case 0x7f, '\b':
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case 0x15:
			out = out[:0]
		default:
			out = append(out, c)
		}
	}
	return out
}

// Bytes returns the transcript with every secret masked, cut at the limit
// (after masking: no part of a secret survives the cut).
func (t *Transcript) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	out, cut := t.mask.ApplyCut(t.buf, t.limit)
	out = out[:len(out):len(out)] // the caller's appends never reach buf
	if cut || t.cut {
		out = append(out, []byte("\n[ops: transcript cut at the size limit]\n")...)
	}
	return out
}

// Writer tees w into the transcript.
func (t *Transcript) Writer(w io.Writer) io.Writer { return &tee{w: w, t: t} }

type tee struct {
	w io.Writer
	t *Transcript
}

func (x *tee) Write(p []byte) (int, error) {
	// Recorded first: a prompt is seen before the operator can answer it.
	x.t.write(p)
	return x.w.Write(p)
}

// Reader tees input into the transcript's answer detection (input is never
// recorded otherwise).
func (t *Transcript) Reader(r io.Reader) io.Reader { return &input{r: r, t: t} }

type input struct {
	r io.Reader
	t *Transcript
}

func (x *input) Read(p []byte) (int, error) {
	n, err := x.r.Read(p)
	if n > 0 {
		x.t.typedIn(p[:n])
	}
	return n, err
}
