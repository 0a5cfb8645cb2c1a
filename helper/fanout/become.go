package fanout

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// wrap makes the remote command line: with become and a password, sudo
// reads it from the channel after a prompt unique to this run, and says
// when it is past authentication so that the script goes to the command,
// not to sudo. Without a password sudo runs with -n: a host that wants one
// fails with sudo's own message instead of a failed attempt per host.
func wrap(o Options, token string) string {
	if !o.Become {
		return o.Command
	}
	user := o.BecomeUser
	if user == "" {
		user = "root"
	}
	inner := "echo " + readyMark(token) + " >&2; " + o.Command
	if o.BecomePassword == nil {
		return fmt.Sprintf("sudo -n -u %s -- /bin/sh -c %s", quote(user), quote(inner))
	}
	return fmt.Sprintf("sudo -S -p %s -u %s -- /bin/sh -c %s", quote(promptMark(token)), quote(user), quote(inner))
}

func promptMark(token string) string { return "[ops-become-" + token + "]" }
func readyMark(token string) string  { return "ops-become-ready-" + token }

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// becomeWatch answers sudo's unique prompt with the password once; a second
// prompt means the password was wrong: stdin is closed, so that sudo gives
// up at once. Until sudo says it is past authentication (the ready mark),
// its own complaints are not the command's output and are dropped.
type becomeWatch struct {
	token    string
	password string
	stdin    io.WriteCloser
	body     []byte
	active   bool
	prompts  int
	rejected bool
	sent     bool
	ready    bool
}

func (b *becomeWatch) sendBody() {
	if b.sent {
		return
	}
	b.sent = true
	go func() {
		if len(b.body) > 0 {
			_, _ = b.stdin.Write(b.body)
		}
		_ = b.stdin.Close()
	}()
}

// span is the longest mark partial looks for.
func (b *becomeWatch) span() int { return len(promptMark(b.token)) }

// partial looks for the prompt in (the new part of) a line without its
// newline yet.
func (b *becomeWatch) partial(p []byte) bool {
	if !b.active || b.ready || !bytes.Contains(p, []byte(promptMark(b.token))) {
		return false
	}
	b.prompted()
	return true
}

func (b *becomeWatch) prompted() {
	b.prompts++
	if b.prompts == 1 {
		// The stderr reader writes this: a host that opens no window
		// blocks it until the host's bounds close the connection.
		_, _ = io.WriteString(b.stdin, b.password+"\n")
	} else {
		b.rejected = true
		_ = b.stdin.Close()
	}
}

// line handles complete stderr lines: it swallows ops's own markers, and
// sudo's complaints before the ready mark.
func (b *becomeWatch) line(p []byte) bool {
	if !b.active || b.ready {
		return false
	}
	if bytes.Contains(p, []byte(promptMark(b.token))) {
		b.prompted()
		return true
	}
	if bytes.Contains(p, []byte(readyMark(b.token))) {
		b.ready = true
		b.sendBody()
		return true
	}
	return bytes.HasPrefix(p, []byte("Sorry, try again.")) || bytes.Contains(p, []byte("incorrect password attempt"))
}
