package fanout

import (
	"strings"
	"testing"
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
