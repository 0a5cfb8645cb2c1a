package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/ops-team/ops/helper/fanout"
	"github.com/ops-team/ops/helper/runlog"
)

// The output side of ops exec: streamed lines, --fold, --json, progress,
// the recap and the exit code.

// execPrinter turns fanout's callbacks into one output mode.
type execPrinter struct {
	d        *deps
	o        execOptions
	width    int
	progress *progress
	line     bytes.Buffer // reused for each streamed line
	json     *json.Encoder
}

func newExecPrinter(d *deps, o execOptions, hosts []string) *execPrinter {
	p := &execPrinter{d: d, o: o}
	for _, h := range hosts {
		p.width = max(p.width, len(h))
	}
	p.progress = newProgress(d, len(hosts), !o.fold && !o.asJSON)
	if o.asJSON {
		p.json = json.NewEncoder(d.out)
	}
	return p
}

// hook sets the fanout callbacks of this output mode.
func (p *execPrinter) hook(fo *fanout.Options) {
	switch {
	case p.o.asJSON:
		fo.OnDone = func(r fanout.Result) {
			p.progress.clear()
			_ = p.json.Encode(jsonResult(r))
			p.progress.done(r)
		}
	case p.o.fold:
		fo.OnDone = p.progress.done
	default:
		fo.OnLine = p.streamLine
		fo.OnDone = func(r fanout.Result) {
			if r.Status != fanout.OK {
				fmt.Fprintf(p.d.err, "%-*s : %s\n", p.width, p.host(r.Host), p.describe(r))
			}
		}
	}
}

// streamLine prints "HOST | line" (stdout) or "HOST ! line" (stderr),
// one write a line.
func (p *execPrinter) streamLine(host string, stderr bool, line []byte, cut bool) {
	mark := " | "
	if stderr {
		mark = " ! "
	}
	b := &p.line
	b.Reset()
	host = p.host(host)
	b.WriteString(host)
	for i := len(host); i < p.width; i++ {
		b.WriteByte(' ')
	}
	b.WriteString(mark)
	p.text(b, line)
	if cut {
		b.WriteString(fanout.CutMark)
	}
	b.WriteByte('\n')
	_, _ = p.d.out.Write(b.Bytes())
}

// text writes what a target sent, its control characters escaped unless
// --raw.
func (p *execPrinter) text(b *bytes.Buffer, s []byte) {
	if p.o.raw {
		b.Write(s)
		return
	}
	escapeControls(b, s, true)
}

// escapeControls writes s with every control character (C0 but tab and,
// with keepNL, newline; DEL; C1), every invalid byte and the bidirectional overrides written as \xNN
// or \uNNNN: a target cannot move the cursor, rewrite a line with \r, or
// forge another host's output on the operator's terminal.
func escapeControls(b *bytes.Buffer, s []byte, keepNL bool) {
	for len(s) > 0 {
		c := s[0]
		if c >= 0x20 && c < 0x7f || c == '\t' || c == '\n' && keepNL {
			b.WriteByte(c)
			s = s[1:]
			continue
		}
		r, n := utf8.DecodeRune(s)
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(b, `\x%02x`, c)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.Write(s[:n])
		}
		s = s[n:]
	}
}

// escapeString is escapeControls for a string (errors may quote a host).
func escapeString(s string) string {
	var b bytes.Buffer
	escapeControls(&b, []byte(s), false)
	return b.String()
}

func (p *execPrinter) describe(r fanout.Result) string {
	msg := r.Error
	if !p.o.raw {
		msg = escapeString(msg)
	}
	switch {
	case r.Status == fanout.OK:
		return "ok"
	case msg != "" && r.Exit > 0:
		return fmt.Sprintf("%s exit=%d (%s)", r.Status, r.Exit, msg)
	case msg != "":
		return fmt.Sprintf("%s (%s)", r.Status, msg)
	}
	return fmt.Sprintf("%s exit=%d", r.Status, r.Exit)
}

// jsonResult is one host's line of --json; "exit" is null when the host
// gave no exit status.
func jsonResult(r fanout.Result) map[string]any {
	var exit any
	if r.Exit >= 0 {
		exit = r.Exit
	}
	return map[string]any{"host": r.Host, "status": r.Status, "exit": exit, "error": r.Error,
		"stdout": string(r.Stdout), "stderr": string(r.Stderr), "dropped_bytes": r.Dropped,
		"duration_ms": r.Duration.Milliseconds()}
}

// fold prints hosts whose results are identical together, the largest
// group first: a header line, then each output line marked as streamed
// lines are ("| " stdout, "! " stderr), so that no output can pass for a
// header.
func (p *execPrinter) fold(results []fanout.Result) {
	type fold struct {
		r     fanout.Result
		hosts []string
	}
	var folds []*fold
	index := map[string]*fold{}
	for _, r := range results {
		key := fmt.Sprintf("%s %d %d %d %q %d %q %d %q", r.Status, r.Exit, r.Dropped, len(r.Error), r.Error, len(r.Stdout), r.Stdout, len(r.Stderr), r.Stderr)
		f, ok := index[key]
		if !ok {
			f = &fold{r: r}
			index[key] = f
			folds = append(folds, f)
		}
		f.hosts = append(f.hosts, p.host(r.Host))
	}
	sort.SliceStable(folds, func(i, j int) bool { return len(folds[i].hosts) > len(folds[j].hosts) })
	var b bytes.Buffer
	for _, f := range folds {
		b.Reset()
		fmt.Fprintf(&b, "---------------- %s (%d) %s\n", strings.Join(f.hosts, ","), len(f.hosts), p.describe(f.r))
		p.body(&b, "| ", f.r.Stdout)
		p.body(&b, "! ", f.r.Stderr)
		if f.r.Dropped > 0 {
			fmt.Fprintf(&b, "[ops: %d bytes of output not kept]\n", f.r.Dropped)
		}
		_, _ = p.d.out.Write(b.Bytes())
	}
}

// body writes kept output, each line after mark.
func (p *execPrinter) body(b *bytes.Buffer, mark string, out []byte) {
	for len(out) > 0 {
		line, rest, _ := bytes.Cut(out, []byte("\n"))
		b.WriteString(mark)
		p.text(b, line)
		b.WriteByte('\n')
		out = rest
	}
}

// host is a host name as shown: a dynamic inventory's names may come from
// the hosts themselves, so they are escaped as their output is.
func (p *execPrinter) host(name string) string {
	if p.o.raw {
		return name
	}
	return escapeString(name)
}

// recap prints the EXEC RECAP and the summary line for people, sends the
// per-host results to an outer ops that runs this one in a container, and
// returns them for the log.
func (p *execPrinter) recap(results []fanout.Result, took time.Duration) ([]runlog.HostResult, map[fanout.Status]int) {
	counts := map[fanout.Status]int{}
	hr := make([]runlog.HostResult, 0, len(results))
	for _, r := range results {
		counts[r.Status]++
		h := runlog.HostResult{Name: p.host(r.Host), Result: string(r.Status)}
		if r.Exit >= 0 {
			exit := r.Exit
			h.Exit = &exit
		}
		hr = append(hr, h)
	}
	runlog.WriteExecRecap(p.d.err, hr)
	parts := []string{
		fmt.Sprintf("%d ok", counts[fanout.OK]),
		fmt.Sprintf("%d failed", counts[fanout.Failed]),
		fmt.Sprintf("%d unreachable", counts[fanout.Unreachable]),
	}
	for _, s := range []fanout.Status{fanout.TimedOut, fanout.NotStarted, fanout.Interrupted} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], strings.ReplaceAll(string(s), "-", " ")))
		}
	}
	fmt.Fprintf(p.d.err, "ops exec: %d hosts in %.2fs: %s\n", len(results), took.Seconds(), strings.Join(parts, ", "))
	p.d.sendResults(hr)
	return hr, counts
}

// execExit is the exit code of a run that was not interrupted: 2 when some
// hosts failed, timed out or were not started (the deadline), 4 when some
// were unreachable, 6 both.
func execExit(counts map[fanout.Status]int) int {
	code := 0
	if counts[fanout.Failed]+counts[fanout.TimedOut]+counts[fanout.NotStarted]+counts[fanout.Interrupted] > 0 {
		code |= exitHostsFailed
	}
	if counts[fanout.Unreachable] > 0 {
		code |= exitHostsUnreachable
	}
	return code
}

// progress shows done/total on a terminal's stderr.
type progress struct {
	w             io.Writer
	total, n, bad int
	on            bool
}

func newProgress(d *deps, total int, streaming bool) *progress {
	f, ok := d.err.(*os.File)
	return &progress{w: d.err, total: total, on: !streaming && ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) done(r fanout.Result) {
	p.n++
	if r.Status != fanout.OK {
		p.bad++
	}
	if p.on {
		fmt.Fprintf(p.w, "\r[%d/%d] %d not ok", p.n, p.total, p.bad)
	}
}

func (p *progress) clear() {
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
