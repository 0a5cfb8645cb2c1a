package sshx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// WindowSize is a terminal size.
type WindowSize struct{ Width, Height int }

// RunOptions describe one remote command.
type RunOptions struct {
	Cmd            string
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	PTY            bool
	Term           string
	Size           WindowSize
	Resize         <-chan WindowSize
	Agent          agent.Agent // forwarded for this session when set
}

// ConnectionLostError is a session whose connection went away before the
// command's exit status arrived.
type ConnectionLostError struct{ Err error }

func (e *ConnectionLostError) Error() string {
	return fmt.Sprintf("connection lost before the command finished: %v", e.Err)
}

// SignalStatus is the exit status a shell reports for a command killed by
// the signal RFC 4254 names (128 + its number); a name it does not list is
// reported as SIGTERM's. The one signal table of ops.
func SignalStatus(name string) int {
	n, ok := map[string]int{
		"ABRT": 6, "ALRM": 14, "FPE": 8, "HUP": 1, "ILL": 4, "INT": 2, "KILL": 9,
		"PIPE": 13, "QUIT": 3, "SEGV": 11, "TERM": 15, "USR1": 10, "USR2": 12,
	}[name]
	if !ok {
		n = int(syscall.SIGTERM)
	}
	return 128 + n
}

// Run runs the command and returns its exit status (128+N for a signal, as
// a shell reports it). Cancelling ctx sends SIGINT, then closes the session.
func (c *Client) Run(ctx context.Context, o RunOptions) (int, error) {
	s, err := c.NewSession()
	if err != nil {
		return -1, fmt.Errorf("open session: %w", err)
	}
	defer s.Close()
	if o.Agent != nil {
		if err := agent.ForwardToAgent(c.Client, o.Agent); err != nil && !strings.Contains(err.Error(), "already") {
			return -1, err
		}
		if err := agent.RequestAgentForwarding(s); err != nil {
			return -1, fmt.Errorf("agent forwarding refused by the server: %w", err)
		}
	}
	s.Stdout, s.Stderr = o.Stdout, o.Stderr
	if o.PTY {
		t := o.Term
		if t == "" {
			t = "xterm-256color"
		}
		w, h := o.Size.Width, o.Size.Height
		if w <= 0 || h <= 0 {
			w, h = 80, 24
		}
		if err := s.RequestPty(t, h, w, ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}); err != nil {
			return -1, fmt.Errorf("request a terminal: %w", err)
		}
	}
	// Stdin is copied by hand so that a blocked local read never holds up the end.
	var stdinW io.WriteCloser
	if o.Stdin != nil {
		if stdinW, err = s.StdinPipe(); err != nil {
			return -1, err
		}
	}
	if err := s.Start(o.Cmd); err != nil {
		return -1, fmt.Errorf("start: %w", err)
	}
	if stdinW != nil {
		go func() {
			_, _ = io.Copy(stdinW, o.Stdin)
			stdinW.Close()
		}()
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	var cancelled <-chan struct{} = ctx.Done()
	for {
		select {
		case err := <-done:
			return exitStatus(err)
		case ws := <-o.Resize:
			_ = s.WindowChange(ws.Height, ws.Width)
		case <-cancelled:
			cancelled = nil
			_ = s.Signal(ssh.SIGINT)
			go func() {
				time.Sleep(3 * time.Second)
				s.Close()
			}()
		}
	}
}

func exitStatus(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		if sig := ee.Signal(); sig != "" {
			return SignalStatus(sig), nil
		}
		return ee.ExitStatus(), nil
	}
	var em *ssh.ExitMissingError
	if errors.As(err, &em) {
		return -1, &ConnectionLostError{Err: err}
	}
	if errors.Is(err, io.EOF) {
		return -1, &ConnectionLostError{Err: err}
	}
	return -1, err
}
