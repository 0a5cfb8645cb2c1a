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

// Transcript records what the operator saw (everything written to the
// output writers, in order) and recognises password prompts in it. The
// k-th prompt's answer is the k-th line typed after the previous answer;
// answers are kept in memory only and handed to the Mask.
type Transcript struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	limit   int
	cut     bool
	line    []byte // the output line being written, for prompt detection
	prompts int
	mask    *Mask
	typed   []byte // input since the last answer
	answers int
}

// NewTranscript keeps up to limit bytes (the rest is cut, and says so).
func NewTranscript(limit int, mask *Mask) *Transcript {
	return &Transcript{limit: limit, mask: mask}
}

func (t *Transcript) write(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.limit - t.buf.Len(); room > 0 {
		t.buf.Write(p[:min(len(p), room)])
	}
	if t.buf.Len() >= t.limit {
		t.cut = true
	}
	for _, c := range p {
		if c == '\n' || c == '\r' {
			t.line = t.line[:0]
			continue
		}
		t.line = append(t.line, c)
		if len(t.line) > 256 {
			t.line = t.line[len(t.line)-256:]
		}
		// A prompt ends in ": "; what follows on the line may already be
		// the program's next output.
		if (c == ':' || c == ' ') && promptRe.Match(t.line) {
			t.prompts++
			t.line = t.line[:0]
		}
	}
	t.answer()
}

// typedIn records input; complete lines answer pending prompts.
func (t *Transcript) typedIn(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.typed = append(t.typed, p...)
	t.answer()
}

// answer matches typed lines to prompts, in order.
func (t *Transcript) answer() {
	for t.answers < t.prompts {
		i := bytes.IndexAny(t.typed, "\r\n")
		if i < 0 {
			return
		}
		t.mask.AddLiteral(string(t.typed[:i]))
		crlf := t.typed[i] == '\r' && i+1 < len(t.typed) && t.typed[i+1] == '\n'
		t.typed = t.typed[i+1:]
		if crlf {
			t.typed = t.typed[1:]
		}
		t.answers++
	}
	if t.answers == t.prompts && len(t.typed) > 4096 {
		t.typed = t.typed[len(t.typed)-4096:]
	}
}

// Bytes returns the transcript with every secret masked.
func (t *Transcript) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.mask.Apply(t.buf.Bytes())
	if t.cut {
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
	n, err := x.w.Write(p)
	x.t.write(p[:n])
	return n, err
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
