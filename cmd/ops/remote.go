package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/ops-team/ops/helper/sshx"
)

type remoteOptions struct {
	ssh sshOptions
	cmd []string
}

func sshFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "accept-new", Usage: "accept and record an unknown host key without asking (a changed key is always refused)"},
		&cli.StringSliceFlag{Name: "agent-key", Usage: "forward only this agent key (SHA256 fingerprint or comment; repeatable)"},
		&cli.BoolFlag{Name: "no-agent", Usage: "forward no agent"},
	}
}

func sshOptionsFrom(c *cli.Context) sshOptions {
	return sshOptions{acceptNew: c.Bool("accept-new"), agentKeys: c.StringSlice("agent-key"), noAgent: c.Bool("no-agent")}
}

func remoteCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:      "remote",
		Usage:     "run a command on the operation server (agent forwarded; a terminal if stdin is one)",
		ArgsUsage: "[--] CMD [ARG...]",
		Flags:     sshFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("remote needs a command: ops remote [--] CMD [ARG...]")
			}
			o := remoteOptions{ssh: sshOptionsFrom(c), cmd: c.Args().Slice()}
			return d.recorded(c.Context, d.argv, func() error { return runRemote(c.Context, d, o) })
		},
	}
}

func runRemote(ctx context.Context, d *deps, o remoteOptions) error {
	client, err := d.dialServer(ctx, o.ssh)
	if err != nil {
		return err
	}
	defer client.Close()
	fwd, err := d.forwardedAgent(client, o.ssh)
	if err != nil {
		return err
	}
	ro := sshx.RunOptions{Cmd: sshx.CommandLine(o.cmd), Stdin: d.in, Stdout: d.out, Stderr: d.err}
	if fwd != nil {
		ro.Agent = fwd
	}
	if fd, ok := d.stdinTerminal(); ok {
		restore, resize, err := terminalSession(fd, &ro)
		if err != nil {
			return err
		}
		defer restore()
		ro.Resize = resize
	}
	code, err := client.Run(ctx, ro)
	if fwd != nil && fwd.Signatures() > 0 {
		fmt.Fprintf(d.err, "ops: the operation server used the forwarded agent for %d signature(s)\n", fwd.Signatures())
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return commandExit{code: code}
	}
	return nil
}

// terminalSession puts the local terminal in raw mode for a PTY session and
// forwards window-size changes. restore must run on every exit path.
func terminalSession(fd int, ro *sshx.RunOptions) (restore func(), resize <-chan sshx.WindowSize, err error) {
	w, h, resize, restore, err := rawTerminal(fd, func(w, h int) sshx.WindowSize { return sshx.WindowSize{Width: w, Height: h} })
	if err != nil {
		return nil, nil, err
	}
	ro.PTY, ro.Term, ro.Size = true, os.Getenv("TERM"), sshx.WindowSize{Width: w, Height: h}
	return restore, resize, nil
}

// rawTerminal puts fd in raw mode and reports its size, then every change
// of it (SIGWINCH) as conv makes it; restore undoes both.
func rawTerminal[T any](fd int, conv func(w, h int) T) (w, h int, resize <-chan T, restore func(), err error) {
	w, h, err = term.GetSize(fd)
	if err != nil {
		w, h = 80, 24
	}
	state, err := term.MakeRaw(fd)
	if err != nil {
		return 0, 0, nil, nil, fmt.Errorf("terminal: %w", err)
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	ch := make(chan T, 1)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-winch:
				if w, h, err := term.GetSize(fd); err == nil {
					select {
					case ch <- conv(w, h):
					default:
					}
				}
			case <-stop:
				return
			}
		}
	}()
	return w, h, ch, func() {
		signal.Stop(winch)
		close(stop)
		_ = term.Restore(fd, state)
	}, nil
}
