package runlog

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// play feeds a transcript: "o:" output, "i:" input (one read).
func play(t *testing.T, tr *Transcript, sink io.Writer, steps []string) {
	t.Helper()
	w := tr.Writer(sink)
	for _, s := range steps {
		if v, ok := strings.CutPrefix(s, "i:"); ok {
			r := tr.Reader(strings.NewReader(v))
			b := make([]byte, len(v)+1)
			if n, _ := r.Read(b); n != len(v) {
				t.Fatalf("read %d of %q", n, v)
			}
		} else if v, ok := strings.CutPrefix(s, "o:"); ok {
			w.Write([]byte(v))
		} else {
			t.Fatalf("step %q", s)
		}
	}
}

// An answer is a line typed after a password prompt appeared; what was
// typed before (a shell's commands, type-ahead) is neither recorded nor
// taken for the password.
func TestTranscriptCapturesPromptAnswers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		steps   []string
		secrets []string // not in the transcript
		kept    []string // in the transcript
	}{
		{"typed after the prompt", []string{"o:BECOME password: ", "i:pw1\r", "o:\r\nok pw1\n"}, []string{"pw1"}, []string{"ok "}},
		{"interactive shell: the command before the prompt stays, the password after it is masked", []string{
			"o:$ ", "i:uptime\r", "o:uptime\r\n 10:00:01 up 3 days\r\n$ ",
			"i:sudo -k true\r", "o:sudo -k true\r\n[sudo] password for deploy: ", "i:hunter2\r",
			"o:\r\n$ ", "i:history\r", "o:history\r\n  1 uptime\r\n  2 echo hunter2\r\n$ "},
			[]string{"hunter2"}, []string{"uptime\r\n 10:00:01", "1 uptime", "history"}},
		{"typed before the prompt is not its answer", []string{"i:pw2\n", "o:[sudo] password for deploy: ", "o:echo pw2\n"}, nil, []string{"echo pw2"}},
		{"a partial line typed before the prompt is dropped", []string{"i:ls -l", "o:Password: ", "i:pw3\r", "o:ls -l pw3\n"}, []string{"pw3"}, []string{"ls -l "}},
		{"prompt and more output in one write", []string{"o:Password: typed", "i:pw4\n", "o: pw4\n"}, []string{"pw4"}, []string{"typed"}},
		{"typed after the answer is not a password", []string{"o:Password: ", "i:pw5\rls\r", "o:ls pw5\n"}, []string{"pw5"}, []string{"ls "}},
		{"no prompt, nothing captured", []string{"i:visible\n", "o:visible\n"}, nil, []string{"visible"}},
		{"two prompts, two answers", []string{"o:BECOME password:", "i:first\n", "o: Vault password: ", "i:second\n", "o:first second\n"}, []string{"first", "second"}, nil},
		{"sudo asks again", []string{"o:[sudo] password for u: ", "i:wrong1\r", "o:\r\nSorry, try again.\r\n[sudo] password for u: ", "i:right2\r", "o:\r\nwrong1 right2\n"}, []string{"wrong1", "right2"}, []string{"Sorry, try again."}},
		{"line editing", []string{"o:Password: ", "i:hunterx\x7f2\r", "o:\r\nhunter2\n"}, []string{"hunter2"}, nil},
		{"a prompt with escapes in it", []string{"o:\x1b[1mPassword\x1b[0m: ", "i:pw6\r", "o:pw6\n"}, []string{"pw6"}, []string{"Password: "}},
		{"output that looks like a prompt is not one", []string{"o:$ cat vars.yml\r\n  become_password: x1\r\nvault password: y\r\n$ ", "i:uptime\r", "o:uptime\r\n"}, nil, []string{"uptime\r\n"}},
		{"a prompt that ends its line", []string{"o:Enter password:\n", "i:pw8\n", "o:pw8\n"}, []string{"pw8"}, nil},
		{"a prompt split across writes", []string{"o:BECOME pass", "o:word: ", "i:pw7\r", "o:pw7\n"}, []string{"pw7"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := NewMask(nil)
			tr := NewTranscript(1<<20, m)
			var sink strings.Builder
			play(t, tr, &sink, tc.steps)
			got := string(tr.Bytes())
			for _, s := range tc.secrets {
				if strings.Contains(got, s) {
					t.Errorf("%q leaked: %q", s, got)
				}
			}
			for _, s := range tc.kept {
				if !strings.Contains(got, s) {
					t.Errorf("%q lost: %q", s, got)
				}
			}
			if !strings.Contains(sink.String(), strings.TrimPrefix(tc.steps[len(tc.steps)-1], "o:")) {
				t.Error("the operator's own output was changed")
			}
		})
	}
}

// promptThenAnswer is the operator's terminal: the moment it shows a
// prompt, the answer is typed.
type promptThenAnswer struct {
	tr     *Transcript
	answer string
	out    bytes.Buffer
}

func (p *promptThenAnswer) Write(b []byte) (int, error) {
	p.out.Write(b)
	if bytes.Contains(b, []byte("password:")) {
		r := p.tr.Reader(strings.NewReader(p.answer))
		io.ReadAll(r)
	}
	return len(b), nil
}

// The prompt is seen before it reaches the operator, so even an answer
// typed at once is an answer.
func TestTranscriptSeesThePromptBeforeTheOperator(t *testing.T) {
	m, _ := NewMask(nil)
	tr := NewTranscript(1<<20, m)
	term := &promptThenAnswer{tr: tr, answer: "quick1\r"}
	w := tr.Writer(term)
	w.Write([]byte("BECOME password: "))
	w.Write([]byte("\r\necho quick1\r\n"))
	if got := string(tr.Bytes()); strings.Contains(got, "quick1") {
		t.Errorf("leaked: %q", got)
	}
	if !strings.Contains(term.out.String(), "echo quick1") {
		t.Errorf("the terminal got %q", term.out.String())
	}
}

// The transcript is kept without terminal escape sequences (the log is
// for reading), so a secret with a colour change inside is still masked;
// the operator's terminal gets the output unchanged.
func TestTranscriptStripsEscapes(t *testing.T) {
	m, _ := NewMask([]string{`(?i)password=[^\s]+`})
	m.AddLiteral("hunter2")
	tr := NewTranscript(1<<20, m)
	var sink strings.Builder
	steps := []string{
		"o:\x1b[31mred\x1b[0m \x1b]0;a title\x07plain\n",
		"o:typed hun\x1b[1mter2 here\n",
		"o:split hun\x1b[", "o:1;3", "o:1mter2 too\n",
		"o:password=\x1b[0mletmein\n",
		"o:\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ done\x1b(B\x1b7\n",
	}
	play(t, tr, &sink, steps)
	got := string(tr.Bytes())
	want := "red plain\ntyped ******** here\nsplit ******** too\npassword=********\nlink done\n"
	if got != want {
		t.Errorf("transcript\n%q\nwant\n%q", got, want)
	}
	if !strings.Contains(sink.String(), "hun\x1b[1mter2") {
		t.Errorf("the operator's output was changed: %q", sink.String())
	}
}

// The cut at the size limit comes after masking: it never keeps the start
// of a secret, and it prefers a line end.
func TestTranscriptCutNeverKeepsASecret(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		limit     int
		want      string
	}{
		{"no line end", "0123456789abcdef", 10, "0123456789"},
		{"a secret across the limit", "0123456789hunter2 tail", 13, "0123456789"},
		{"a secret before the limit", "0123hunter2 tail", 13, "0123******** t"},
		{"at a line end", "line one\nline two hunter2 tail", 23, "line one\n"},
		{"a pattern across the limit", "x password=letmein y", 15, "x password="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := NewMask([]string{`password=(?P<secret>\S+)`})
			m.AddLiteral("hunter2")
			tr := NewTranscript(tc.limit, m)
			tr.Writer(io.Discard).Write([]byte(tc.out))
			got := string(tr.Bytes())
			if want := tc.want + "\n[ops: transcript cut at the size limit]\n"; got != want {
				t.Errorf("%q, want %q", got, want)
			}
			for _, part := range []string{"hun", "let"} {
				if strings.Contains(got, part) {
					t.Errorf("%q kept the start of a secret: %q", got, part)
				}
			}
		})
	}
	// Past the limit and its slack, nothing more is held.
	m, _ := NewMask(nil)
	tr := NewTranscript(10, m)
	w := tr.Writer(io.Discard)
	for range 100 {
		w.Write(bytes.Repeat([]byte("y"), 4096))
	}
	if n := len(tr.buf); n > 10+cutSlack {
		t.Errorf("holds %d bytes", n)
	}
	if got := tr.Bytes(); len(got) != 10+len("\n[ops: transcript cut at the size limit]\n") {
		t.Errorf("%d bytes", len(got))
	}
}

// Piped input (echo pw | ops …) is written ahead of the prompt: its lines
// answer the prompts in order, as a script means them to.
func TestTranscriptPipedAnswersAhead(t *testing.T) {
	m, _ := NewMask(nil)
	tr := NewTranscript(1<<20, m)
	tr.Piped = true
	r := tr.Reader(strings.NewReader("s3cret\n"))
	io.ReadAll(r)
	w := tr.Writer(io.Discard)
	io.WriteString(w, "BECOME password: ")
	io.WriteString(w, "\noops, echoed: s3cret\n")
	if got := string(tr.Bytes()); strings.Contains(got, "s3cret") {
		t.Errorf("%q", got)
	}
}
