package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// supervise runs inside the image, as the container's command: it runs CMD
// and ends it when the operator's heartbeat stops (ops killed, laptop lid
// closed), so that no orphan keeps acting on the fleet.
type superviseOptions struct {
	heartbeat string        // unix socket served by the operator's ops
	interval  time.Duration // between probes
	misses    int           // consecutive failed probes that end CMD
	cmd       []string
}

func superviseCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:      "supervise",
		Hidden:    true,
		Usage:     "run CMD while the operator's heartbeat socket answers (used inside the container)",
		ArgsUsage: "-- CMD [ARG...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "heartbeat", Required: true},
			&cli.DurationFlag{Name: "interval", Value: time.Second},
			&cli.IntFlag{Name: "misses", Value: 3},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("supervise needs a command")
			}
			return runSupervise(c.Context, d, superviseOptions{
				heartbeat: c.String("heartbeat"), interval: c.Duration("interval"), misses: c.Int("misses"), cmd: c.Args().Slice(),
			})
		},
	}
}

// probe is one heartbeat: connect and read one byte within the interval.
func probe(path string, timeout time.Duration) error {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	b := make([]byte, 1)
	_, err = c.Read(b)
	return err
}

func runSupervise(ctx context.Context, d *deps, o superviseOptions) error {
	if err := probe(o.heartbeat, 5*o.interval); err != nil {
		return fmt.Errorf("no heartbeat from the operator at %s: %v", o.heartbeat, err)
	}
	cmd := exec.Command(o.cmd[0], o.cmd[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if term.IsTerminal(int(os.Stdin.Fd())) {
		cmd.SysProcAttr.Foreground = true
		cmd.SysProcAttr.Ctty = 0
	}
	// Terminal signals reach CMD's own process group; the supervisor only
	// passes on what is sent to it (docker stop, docker kill).
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGTTOU, syscall.SIGTTIN)
	if err := cmd.Start(); err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			return commandExit{code: 127, msg: fmt.Sprintf("ops: %s: command not found", o.cmd[0])}
		}
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	missed := 0
	stopping := false
	for {
		select {
		case err := <-done:
			return childExit(err, cmd)
		case s := <-sigs:
			if s == syscall.SIGTTOU || s == syscall.SIGTTIN {
				continue
			}
			_ = syscall.Kill(-cmd.Process.Pid, s.(syscall.Signal))
		case <-tick.C:
			if stopping {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				continue
			}
			if err := probe(o.heartbeat, o.interval); err != nil {
				missed++
				if missed >= o.misses {
					fmt.Fprintf(d.err, "\r\nops supervise: the operator's heartbeat stopped (%v); ending %s\r\n", err, o.cmd[0])
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
					stopping = true
				}
			} else {
				missed = 0
			}
		}
	}
}

func childExit(err error, cmd *exec.Cmd) error {
	if err == nil {
		return nil
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return err
	}
	if ws.Signaled() {
		return commandExit{code: 128 + int(ws.Signal())}
	}
	return commandExit{code: ws.ExitStatus()}
}
