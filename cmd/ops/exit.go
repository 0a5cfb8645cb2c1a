package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ops-team/ops/helper/sshx"
)

func isConnectionError(err error) bool {
	var (
		ue *sshx.UnreachableError
		ae *sshx.AuthError
		ck *sshx.ChangedKeyError
		uk *sshx.UnknownKeyError
		cl *sshx.ConnectionLostError
	)
	return errors.As(err, &ue) || errors.As(err, &ae) || errors.As(err, &ck) || errors.As(err, &uk) || errors.As(err, &cl)
}

// Exit codes of ops itself. A wrapped command's own code passes through.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130 // SIGINT; SIGTERM 143, SIGHUP 129 (128 + the signal)
	exitConnection  = 255 // as ssh(1): the connection, not the command, failed
)

// usageError is something the user typed wrong.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// commandExit carries a wrapped command's exit code; it has already spoken,
// unless msg says something.
type commandExit struct {
	code int
	msg  string
}

func (e commandExit) Error() string { return fmt.Sprintf("command exited with status %d", e.code) }

// exitCode is the one place errors become exit codes and one stderr line.
func exitCode(ctx context.Context, err error, stderr io.Writer) int {
	if err == nil && ctx.Err() == nil {
		return exitOK
	}
	if err == nil {
		// An interrupt after the command was done (during the log
		// push): the process was still interrupted.
		err = context.Cause(ctx)
	}
	var ce commandExit
	if errors.As(err, &ce) {
		if ce.msg != "" {
			fmt.Fprintln(stderr, ce.msg)
		}
		return ce.code
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		var sig interrupt
		if errors.As(context.Cause(ctx), &sig) {
			fmt.Fprintln(stderr, "ops:", sig)
			return sig.code()
		}
		fmt.Fprintln(stderr, "ops: interrupted")
		return exitInterrupted
	}
	fmt.Fprintln(stderr, "ops:", err)
	if isConnectionError(err) {
		return exitConnection
	}
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}
