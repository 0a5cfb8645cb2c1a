package fanout

import (
	"bytes"
	"encoding/binary"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

type sink struct {
	strings.Builder
	closed bool
}

func (s *sink) Close() error { s.closed = true; return nil }

// collectLines returns a lines splitter that copies what it emits.
func collectLines(limit int, got *[]string) *lines {
	return newLines(limit, func(b []byte, cut bool) {
		s := string(b)
		if cut {
			s += "<cut>"
		}
		*got = append(*got, s)
	})
}

func TestLinesSplitsWholeLines(t *testing.T) {
	var got []string
	l := collectLines(0, &got)
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
		l := collectLines(0, &got)
		n, err := io.Copy(l, r())
		l.flush()
		if err != nil || n != int64(len(input)) {
			t.Errorf("%s: copied %d, %v", name, n, err)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %d lines, want %d", name, len(got), len(want))
		}
	}
	// A read error ends the copy with that error.
	if _, err := io.Copy(newLines(0, func([]byte, bool) {}), iotest.TimeoutReader(strings.NewReader("abc"))); err == nil {
		t.Error("no error from a failing reader")
	}
}

// A line longer than the limit is given cut at the limit, marked, and the
// rest of it up to its newline is dropped and counted; the next line is
// whole again.
func TestLinesCutsLongLines(t *testing.T) {
	for name, feed := range map[string]func(l *lines, s string){
		"write":      func(l *lines, s string) { l.Write([]byte(s)) },
		"read bytes": func(l *lines, s string) { io.Copy(l, iotest.HalfReader(strings.NewReader(s))) },
	} {
		var got []string
		l := collectLines(100, &got)
		feed(l, "short\n"+strings.Repeat("y", 250)+"\nafter\n"+strings.Repeat("z", 100))
		l.flush()
		want := []string{"short", strings.Repeat("y", 100) + "<cut>", "after", strings.Repeat("z", 100) + "<cut>"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %q", name, got)
		}
		if l.dropped != 150 {
			t.Errorf("%s: dropped %d, want 150", name, l.dropped)
		}
	}
}

// heapGrowth is what feeding n bytes without a newline through a line
// splitter and a keep allocates.
func heapGrowth(n int) uint64 {
	chunk := bytes.Repeat([]byte("f"), 32<<10)
	k := &keep{room: DefaultKeepLimit}
	l := newLines(0, func(b []byte, cut bool) { k.add(false, b, cut) })
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	io.Copy(l, io.LimitReader(repeatReader(chunk), int64(n)))
	l.flush()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

type repeatReader []byte

func (r repeatReader) Read(p []byte) (int, error) { return copy(p, r), nil }

// A host's output costs the same memory whatever its length: 64 MiB
// without a newline allocates no more than 4 MiB does.
func TestOutputMemoryIsConstantInLength(t *testing.T) {
	small, large := heapGrowth(4<<20), heapGrowth(64<<20)
	if large > small+64<<10 {
		t.Errorf("64 MiB of output allocated %d bytes, 4 MiB %d: memory grows with the output", large, small)
	}
	if large > 1<<20 {
		t.Errorf("64 MiB of output allocated %d bytes", large)
	}
}

// BenchmarkFloodWithoutNewline reports what one flooding host costs per
// MiB of output (B/op is the heap it allocates; constant per run).
func BenchmarkFloodWithoutNewline(b *testing.B) {
	chunk := bytes.Repeat([]byte("f"), 32<<10)
	b.SetBytes(64 << 20)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l := newLines(0, func([]byte, bool) {})
		io.Copy(l, io.LimitReader(repeatReader(chunk), 64<<20))
	}
}

// Collect keeps at most the limit, shared by stdout and stderr, and counts
// the rest.
func TestKeepLimit(t *testing.T) {
	k := &keep{room: 10}
	k.add(false, []byte("abcd"), false) // 5
	k.add(true, []byte("ef"), false)    // 3
	k.add(false, []byte("ghij"), false) // 5: over
	k.add(false, []byte("k"), false)    // room is gone
	if k.stdout.String() != "abcd\n" || k.stderr.String() != "ef\n" || k.dropped != 7 {
		t.Errorf("stdout %q stderr %q dropped %d", k.stdout.String(), k.stderr.String(), k.dropped)
	}
}

// countingPrompt counts what a prompt watcher is shown.
type countingPrompt struct{ scanned int }

func (c *countingPrompt) look(p []byte) bool { c.scanned += len(p); return false }

// Prompt detection looks only at new bytes of a growing partial line (plus
// a mark's length before them), not at the whole line on every read.
func TestPromptScansOnlyNewBytes(t *testing.T) {
	c := &countingPrompt{}
	l := newLines(1<<20, func([]byte, bool) {})
	l.prompt, l.promptSpan = c.look, 30
	for i := 0; i < 1000; i++ {
		l.Write([]byte(strings.Repeat("p", 100)))
	}
	if c.scanned > 1000*(100+30) {
		t.Errorf("scanned %d bytes for 100,000 bytes of partial line", c.scanned)
	}
}

func TestBecomeAnswersOnceAndDetectsRejection(t *testing.T) {
	in := &sink{}
	b := &becomeWatch{token: "t0k", password: "pw", stdin: in, body: []byte("script"), active: true}
	var got []string
	l := collectLines(0, &got)
	l.filter, l.prompt, l.promptSpan = b.line, b.partial, b.span()
	// A prompt has no newline, and may come in pieces.
	l.Write([]byte(promptMark("t0k")[:5]))
	l.Write([]byte(promptMark("t0k")[5:]))
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
	pw := "pw"
	o.Become, o.BecomeUser, o.BecomePassword = true, "app", &pw
	w := wrap(o, "t")
	for _, s := range []string{"sudo -S -p '[ops-become-t]' -u 'app' -- /bin/sh -c ", "ops-become-ready-t", `echo '\''x'\''`} {
		if !strings.Contains(w, s) {
			t.Errorf("%q lacks %q", w, s)
		}
	}
	if strings.Contains(w, "pw") {
		t.Error("the password is on the command line")
	}
	// -b without -K: sudo must not prompt (a failed attempt per host).
	o.BecomePassword = nil
	if w := wrap(o, "t"); !strings.HasPrefix(w, "sudo -n -u 'app' -- ") || strings.Contains(w, "-S") {
		t.Errorf("without a password: %q", w)
	}
}

// After sudo's ready mark, the command's own lines are its output, even
// when they look like sudo's complaints or repeat the prompt.
func TestBecomeFiltersOnlyUntilReady(t *testing.T) {
	in := &sink{}
	b := &becomeWatch{token: "t0k", password: "pw", stdin: in, active: true}
	var got []string
	l := collectLines(0, &got)
	l.filter, l.prompt, l.promptSpan = b.line, b.partial, b.span()
	l.Write([]byte("Sorry, try again.\n" + readyMark("t0k") + "\nSorry, try again.\n" + promptMark("t0k") + "\n"))
	l.flush()
	if strings.Join(got, "|") != "Sorry, try again.|"+promptMark("t0k") || b.rejected || in.String() != "" {
		t.Errorf("lines %q, rejected %v, stdin %q", got, b.rejected, in.String())
	}
}

// A target cannot make the forwarded agent's server allocate what it
// likes: a message whose length prefix is over the cap ends the stream
// before anything is allocated for it; smaller ones pass whole.
func TestAgentStreamCapsMessages(t *testing.T) {
	msg := func(n int) []byte {
		b := make([]byte, 4+n)
		binary.BigEndian.PutUint32(b, uint32(n))
		return b
	}
	ok := append(msg(10), msg(maxAgentMessage)...)
	got, err := io.ReadAll(&agentStream{rw: rw{iotest.HalfReader(bytes.NewReader(ok))}})
	if err != nil || !bytes.Equal(got, ok) {
		t.Errorf("whole messages: %d bytes, %v", len(got), err)
	}
	bad := append(msg(10), msg(16 << 20)[:4]...)
	got, err = io.ReadAll(&agentStream{rw: rw{bytes.NewReader(bad)}})
	if err != errAgentMessage || len(got) != 18 {
		t.Errorf("oversized: %d bytes, %v", len(got), err)
	}
}

type rw struct{ io.Reader }

func (rw) Write(p []byte) (int, error) { return len(p), nil }
