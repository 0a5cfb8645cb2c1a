package fanout

import (
	"bytes"
	"io"
)

// Output limits: a host's output costs the same memory whatever its length.
const (
	// DefaultLineLimit is the longest line shown whole; a longer one is
	// cut there and marked, and the rest of it is dropped.
	DefaultLineLimit = 64 << 10
	// DefaultKeepLimit is how much output of one host Collect keeps.
	DefaultKeepLimit = 1 << 20
)

// lines splits a stream into whole lines (a last partial line is flushed
// at the end). Its buffer never holds more than limit bytes of one line
// plus one read: a longer line is emitted cut at limit and the rest of it,
// up to the next newline, is dropped and counted.
type lines struct {
	buf   []byte
	limit int
	// emit receives each line (without its newline or a trailing \r); the
	// slice is valid only during the call. cut: the line was longer than
	// limit and only its start is given.
	emit func(line []byte, cut bool)
	// filter may swallow a complete line (true: drop it).
	filter func([]byte) bool
	// prompt sees what is new in the pending partial line (a prompt has no
	// newline) together with the few bytes before it that a mark split
	// across reads needs; true drops the partial line.
	prompt     func([]byte) bool
	promptSpan int // the longest mark prompt looks for
	seen       int // bytes of the partial line prompt has seen
	skipping   bool
	dropped    int64 // bytes of cut lines not emitted
}

func newLines(limit int, emit func([]byte, bool)) *lines {
	if limit <= 0 {
		limit = DefaultLineLimit
	}
	return &lines{limit: limit, emit: emit}
}

// room makes sure a read has space in the buffer, which never grows beyond
// limit plus 4 KiB (scan leaves less than limit pending).
func (l *lines) room() []byte {
	if cap(l.buf)-len(l.buf) < 256 {
		nb := make([]byte, len(l.buf), min(max(512, 2*cap(l.buf)), l.limit+4096))
		copy(nb, l.buf)
		l.buf = nb
	}
	return l.buf[len(l.buf):cap(l.buf)]
}

func (l *lines) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := copy(l.room(), p)
		l.buf = l.buf[:len(l.buf)+k]
		p = p[k:]
		l.scan()
	}
	return n, nil
}

// ReadFrom lets io.Copy, with which each session stream is drained, read
// straight into the line buffer instead of allocating its own 32 KiB
// buffer per stream (two per host).
func (l *lines) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		n, err := r.Read(l.room())
		total += int64(n)
		if n > 0 {
			l.buf = l.buf[:len(l.buf)+n]
			l.scan()
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// scan emits the buffer's complete lines, cuts a partial one that reached
// the limit, and keeps the partial rest at the buffer's start.
func (l *lines) scan() {
	rest := l.buf
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if l.skipping {
			if i < 0 {
				l.dropped += int64(len(rest))
				rest = rest[:0]
				break
			}
			l.dropped += int64(i)
			l.skipping = false
			rest = rest[i+1:]
			continue
		}
		if i < 0 {
			break
		}
		if i > l.limit {
			l.out(rest[:l.limit], true)
			l.dropped += int64(i - l.limit)
		} else {
			l.out(rest[:i], false)
		}
		rest = rest[i+1:]
		l.seen = 0
	}
	if len(rest) >= l.limit {
		l.out(rest[:l.limit], true)
		l.dropped += int64(len(rest) - l.limit)
		l.skipping, l.seen = true, 0
		rest = rest[:0]
	}
	// A prompt does not end in a newline: let prompt see what is new.
	if l.prompt != nil && len(rest) > l.seen {
		if l.prompt(rest[max(0, l.seen-l.promptSpan):]) {
			rest = rest[:0]
			l.seen = 0
		} else {
			l.seen = len(rest)
		}
	}
	l.buf = l.buf[:copy(l.buf, rest)]
}

func (l *lines) out(line []byte, cut bool) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if !cut && l.filter != nil && l.filter(line) {
		return
	}
	l.emit(line, cut)
}

func (l *lines) flush() {
	if len(l.buf) > 0 && !l.skipping {
		l.out(l.buf, false)
	}
	l.buf = l.buf[:0]
}

// keep holds a host's output for Collect, up to a limit shared by stdout
// and stderr; what is beyond it is counted.
type keep struct {
	stdout, stderr bytes.Buffer
	room           int
	dropped        int64
}

func (k *keep) add(stderr bool, line []byte, cut bool) {
	b := &k.stdout
	if stderr {
		b = &k.stderr
	}
	n := len(line) + 1
	if cut {
		n += len(CutMark)
	}
	if n > k.room {
		k.dropped += int64(n)
		k.room = 0
		return
	}
	k.room -= n
	b.Write(line)
	if cut {
		b.WriteString(CutMark)
	}
	b.WriteByte('\n')
}

// CutMark ends a line that was cut at the line limit.
const CutMark = " [ops: line cut at the line limit]"
