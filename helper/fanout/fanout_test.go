package fanout

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type sink struct {
	strings.Builder
	closed bool
}

func (s *sink) Close() error { s.closed = true; return nil }

func TestLinesSplitsWholeLines(t *testing.T) {
	var got []string
	l := &lines{emit: func(b []byte) { got = append(got, string(b)) }}
	for _, chunk := range []string{"a", "b\nc", "\r\n", "\nlast"} {
		l.Write([]byte(chunk))
	}
	l.flush()
	want := []string{"ab", "c", "", "last"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%q, want %q", got, want)
	}
}

// ReadFrom (the path io.Copy takes from the SSH channel) splits the same
// way however the stream is cut, and long lines grow the buffer.
func TestLinesReadFrom(t *testing.T) {
	long := strings.Repeat("x", 3000)
	input := "one\r\n\ntwo " + long + "\nthree\nno newline"
	want := []string{"one", "", "two " + long, "three", "no newline"}
	for name, r := range map[string]func() io.Reader{
		"whole":    func() io.Reader { return strings.NewReader(input) },
		"bytes":    func() io.Reader { return iotest.OneByteReader(strings.NewReader(input)) },
		"halves":   func() io.Reader { return iotest.HalfReader(strings.NewReader(input)) },
		"data+EOF": func() io.Reader { return iotest.DataErrReader(strings.NewReader(input)) },
	} {
		var got []string
		l := &lines{emit: func(b []byte) { got = append(got, string(b)) }}
		n, err := io.Copy(l, r())
		l.flush()
		if err != nil || n != int64(len(input)) {
			t.Errorf("%s: copied %d, %v", name, n, err)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %d lines, want %d", name, len(got), len(want))
		}
	}
	// Emitted lines are copies: later reads do not change them.
	var kept [][]byte
	l := &lines{emit: func(b []byte) { kept = append(kept, b) }}
	_, _ = io.Copy(l, iotest.OneByteReader(strings.NewReader("aaa\nbbb\n")))
	if !bytes.Equal(kept[0], []byte("aaa")) {
		t.Errorf("first line became %q", kept[0])
	}
	// A read error ends the copy with that error.
	if _, err := io.Copy(&lines{emit: func([]byte) {}}, iotest.TimeoutReader(strings.NewReader("abc"))); err == nil {
		t.Error("no error from a failing reader")
	}
}

func TestBecomeAnswersOnceAndDetectsRejection(t *testing.T) {
	in := &sink{}
	b := &becomeWatch{token: "t0k", password: "pw", stdin: in, body: []byte("script"), active: true}
	var got []string
	l := &lines{emit: func(x []byte) { got = append(got, string(x)) }, filter: b.line}
	l.Write([]byte(promptMark("t0k"))) // a prompt has no newline
	if in.String() != "pw\n" {
		t.Fatalf("stdin %q after the prompt", in.String())
	}
	l.Write([]byte("\n" + readyMark("t0k") + "\nreal output\n"))
	l.flush()
	if len(got) != 2 || got[1] != "real output" {
		t.Errorf("lines %q: the markers must not show", got)
	}
	b2 := &becomeWatch{token: "t0k", password: "pw", stdin: &sink{}, active: true}
	b2.line([]byte(promptMark("t0k")))
	b2.line([]byte("Sorry, try again."))
	b2.line([]byte(promptMark("t0k")))
	if !b2.rejected {
		t.Error("a second prompt did not mark the password rejected")
	}
}

func TestWrap(t *testing.T) {
	o := Options{Command: "id -u; echo 'x'"}
	if wrap(o, "t") != o.Command {
		t.Error("no become: the command as it is")
	}
	o.Become, o.BecomeUser = true, "app"
	w := wrap(o, "t")
	for _, s := range []string{"sudo -S -p '[ops-become-t]' -u 'app' -- /bin/sh -c ", "ops-become-ready-t", `echo '\''x'\''`} {
		if !strings.Contains(w, s) {
			t.Errorf("%q lacks %q", w, s)
		}
	}
	if strings.Contains(w, "pw") {
		t.Error("the password is on the command line")
	}
}
