package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"
)

// interrupt is why a run's context ends: the signal that ended it. The
// process then exits with 128 + the signal's number, as a shell reports it.
type interrupt struct{ sig syscall.Signal }

func (i interrupt) Error() string {
	switch i.sig {
	case syscall.SIGTERM:
		return "terminated (SIGTERM)"
	case syscall.SIGHUP:
		return "hung up (SIGHUP)"
	}
	return "interrupted"
}

func (i interrupt) code() int { return 128 + int(i.sig) }

// hurryBound is how long a run has, after a second signal, to commit its
// log locally before the process exits anyway.
const hurryBound = time.Second

// interruptible catches SIGINT, SIGTERM and SIGHUP for the whole process.
// The first cancels ctx (its cause an interrupt): commands stop starting
// work, end what runs, report and log. The second closes hurry: the run
// log is committed locally only, and after hurryBound the terminal is
// restored and the process exits with the first signal's code, whatever
// still waits.
func interruptible(stdin *os.File, stderr io.Writer) (ctx context.Context, hurry <-chan struct{}, stop func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	h := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	var saved *term.State
	if term.IsTerminal(int(stdin.Fd())) {
		saved, _ = term.GetState(int(stdin.Fd()))
	}
	go func() {
		first := interrupt{sig: toSyscall(<-sigs)}
		cancel(first)
		<-sigs
		close(h)
		time.Sleep(hurryBound)
		if saved != nil {
			_ = term.Restore(int(stdin.Fd()), saved)
		}
		fmt.Fprintln(stderr, "ops: interrupted twice: exiting now")
		os.Exit(first.code())
	}()
	return ctx, h, func() { signal.Stop(sigs) }
}

func toSyscall(s os.Signal) syscall.Signal {
	if n, ok := s.(syscall.Signal); ok {
		return n
	}
	return syscall.SIGINT
}
