package docker

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/moby/go-archive"
)

// Spec describes a container to run.
type Spec struct {
	Name        string
	Image       string
	Cmd         []string
	Env         []string
	Binds       []string
	Labels      map[string]string
	HostNetwork bool
	User        string
	WorkingDir  string
}

func (s Spec) configs() (*container.Config, *container.HostConfig) {
	cfg := &container.Config{Image: s.Image, Cmd: s.Cmd, Env: s.Env, Labels: s.Labels, User: s.User, WorkingDir: s.WorkingDir}
	hc := &container.HostConfig{Binds: s.Binds, AutoRemove: false}
	if s.HostNetwork {
		hc.NetworkMode = "host"
	}
	return cfg, hc
}

// RunCaptured runs a container to its end, its output demultiplexed into
// stdout and stderr, removes it, and returns its exit code.
func RunCaptured(ctx context.Context, cli client.ContainerAPIClient, s Spec, stdout, stderr io.Writer) (int, error) {
	cfg, hc := s.configs()
	created, err := cli.ContainerCreate(ctx, cfg, hc, nil, nil, s.Name)
	if err != nil {
		return -1, fmt.Errorf("create container: %w", err)
	}
	defer cli.ContainerRemove(context.WithoutCancel(ctx), created.ID, container.RemoveOptions{Force: true})
	waitC, errC := cli.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return -1, fmt.Errorf("start container: %w", err)
	}
	var code int
	select {
	case w := <-waitC:
		if w.Error != nil {
			return -1, fmt.Errorf("container: %s", w.Error.Message)
		}
		code = int(w.StatusCode)
	case err := <-errC:
		return -1, err
	}
	logs, err := cli.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return code, err
	}
	defer logs.Close()
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	_, err = stdcopy.StdCopy(stdout, stderr, logs)
	return code, err
}

// Attached is how a container's standard streams meet the caller's.
type Attached struct {
	Stdin          io.Reader // nil: no stdin
	Stdout, Stderr io.Writer
	TTY            bool
	Width, Height  uint
	Resize         <-chan [2]uint // width, height
	CopyIn         []string       // local files or folders copied into the working directory before start
}

// ExitStatusUnknown is returned when the container's end was not seen.
const ExitStatusUnknown = -1

// RunAttached creates the container (removed by the engine when it ends),
// copies files in, attaches the streams, starts it and waits for its end.
// Cancelling ctx interrupts the container, then removes it.
func RunAttached(ctx context.Context, cli client.ContainerAPIClient, s Spec, a Attached) (int, error) {
	cfg, hc := s.configs()
	cfg.Tty = a.TTY
	cfg.OpenStdin = a.Stdin != nil
	cfg.StdinOnce = a.Stdin != nil
	cfg.AttachStdin = a.Stdin != nil
	cfg.AttachStdout, cfg.AttachStderr = true, true
	hc.AutoRemove = true
	init := true
	hc.Init = &init
	bg := context.WithoutCancel(ctx)
	created, err := cli.ContainerCreate(ctx, cfg, hc, nil, nil, s.Name)
	if err != nil {
		return ExitStatusUnknown, fmt.Errorf("create container: %w", err)
	}
	id := created.ID
	started := false
	defer func() {
		if !started {
			_ = cli.ContainerRemove(bg, id, container.RemoveOptions{Force: true})
		}
	}()
	for _, p := range a.CopyIn {
		if err := copyIn(ctx, cli, id, s.WorkingDir, p); err != nil {
			return ExitStatusUnknown, err
		}
	}
	hj, err := cli.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdin: a.Stdin != nil, Stdout: true, Stderr: true})
	if err != nil {
		return ExitStatusUnknown, fmt.Errorf("attach: %w", err)
	}
	defer hj.Close()
	waitC, errC := cli.ContainerWait(bg, id, container.WaitConditionRemoved)
	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return ExitStatusUnknown, fmt.Errorf("start container: %w", err)
	}
	started = true
	if a.TTY && a.Width > 0 {
		_ = cli.ContainerResize(bg, id, container.ResizeOptions{Width: a.Width, Height: a.Height})
	}
	if a.Stdin != nil {
		go func() {
			_, _ = io.Copy(hj.Conn, a.Stdin)
			_ = hj.CloseWrite()
		}()
	}
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		if a.TTY {
			_, _ = io.Copy(a.Stdout, hj.Reader)
		} else {
			_, _ = stdcopy.StdCopy(a.Stdout, a.Stderr, hj.Reader)
		}
	}()
	cancelled := ctx.Done()
	for {
		select {
		case w := <-waitC:
			select { // let the last output through
			case <-outDone:
			case <-time.After(2 * time.Second):
			}
			if w.Error != nil {
				return ExitStatusUnknown, fmt.Errorf("container: %s", w.Error.Message)
			}
			return int(w.StatusCode), nil
		case err := <-errC:
			return ExitStatusUnknown, fmt.Errorf("waiting for the container: %w", err)
		case sz := <-a.Resize:
			_ = cli.ContainerResize(bg, id, container.ResizeOptions{Width: sz[0], Height: sz[1]})
		case <-cancelled:
			cancelled = nil
			_ = cli.ContainerKill(bg, id, "SIGINT")
			go func() {
				time.Sleep(3 * time.Second)
				_ = cli.ContainerRemove(bg, id, container.RemoveOptions{Force: true})
			}()
		}
	}
}

// copyIn sends a local file or folder into dir of the container.
func copyIn(ctx context.Context, cli client.ContainerAPIClient, id, dir, local string) error {
	abs, err := filepath.Abs(local)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("--copy %s: %w", local, err)
	}
	rc, err := archive.TarWithOptions(filepath.Dir(abs), &archive.TarOptions{IncludeFiles: []string{filepath.Base(abs)}})
	if err != nil {
		return err
	}
	defer rc.Close()
	if dir == "" {
		dir = "/"
	}
	if err := cli.CopyToContainer(ctx, id, dir, rc, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("--copy %s: %w", local, err)
	}
	return nil
}
