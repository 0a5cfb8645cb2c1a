package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/moby/go-archive"
)

// Spec describes a container to run.
type Spec struct {
	Name  string
	Image string
	Cmd   []string
	Env   []string
	Binds []string
	// ReadOnly are read-only bind mounts whose sources must exist: the
	// engine refuses the container rather than create a missing source
	// (as it does for a bind in Binds).
	ReadOnly    []ReadOnlyMount
	Labels      map[string]string
	HostNetwork bool
	User        string
	WorkingDir  string
	// Heartbeat is the socket, on the engine's host, that answers while the
	// ops that creates the container lives (labelled for the sweep).
	Heartbeat string
}

// ReadOnlyMount is a file or directory of the engine's host, read-only in
// the container.
type ReadOnlyMount struct{ Source, Target string }

// Labels on every container ops creates: they let a later run find and
// remove one whose ops was killed before it started (SweepNeverStarted).
const (
	LabelRun       = "io.ops.run"       // random, one a container
	LabelCreated   = "io.ops.created"   // unix time of the creation, by the creator's clock
	LabelHeartbeat = "io.ops.heartbeat" // Spec.Heartbeat
)

func (s Spec) configs() (*container.Config, *container.HostConfig) {
	labels := make(map[string]string, len(s.Labels)+3)
	for k, v := range s.Labels {
		labels[k] = v
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	labels[LabelRun] = hex.EncodeToString(b)
	labels[LabelCreated] = strconv.FormatInt(time.Now().Unix(), 10)
	if s.Heartbeat != "" {
		labels[LabelHeartbeat] = s.Heartbeat
	}
	cfg := &container.Config{Image: s.Image, Cmd: s.Cmd, Env: s.Env, Labels: labels, User: s.User, WorkingDir: s.WorkingDir}
	hc := &container.HostConfig{Binds: s.Binds, AutoRemove: false}
	for _, m := range s.ReadOnly {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: true})
	}
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
	hookAfterCreate("create")
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
//
// The container holds its environment from its creation; if this process
// dies before the start, it stays, never started, until a later run sweeps
// it (SweepNeverStarted). So all that can be done before the creation is
// (the copies are archived first), and the window is the upload alone.
func RunAttached(ctx context.Context, cli client.ContainerAPIClient, s Spec, a Attached) (int, error) {
	copies, err := archiveCopies(a.CopyIn)
	if err != nil {
		return ExitStatusUnknown, err
	}
	defer func() {
		for _, c := range copies {
			c.file.Close()
		}
	}()
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
	hookAfterCreate("create")
	for _, c := range copies {
		if err := c.send(ctx, cli, id, s.WorkingDir); err != nil {
			return ExitStatusUnknown, err
		}
	}
	hookAfterCreate("copy")
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

// archived is a --copy made into a tar before the container exists.
type archived struct {
	local string
	file  *os.File // removed already: gone when closed
}

// archiveCopies makes each local file or folder into a tar in a temporary
// file: a missing or unreadable one fails before anything is created.
func archiveCopies(locals []string) (out []archived, err error) {
	defer func() {
		if err != nil {
			for _, c := range out {
				c.file.Close()
			}
		}
	}()
	for _, local := range locals {
		abs, err := filepath.Abs(local)
		if err != nil {
			return out, err
		}
		if _, err := os.Stat(abs); err != nil {
			return out, fmt.Errorf("--copy %s: %w", local, err)
		}
		f, err := os.CreateTemp("", "ops-copy-*.tar")
		if err != nil {
			return out, err
		}
		os.Remove(f.Name())
		out = append(out, archived{local: local, file: f})
		rc, err := archive.TarWithOptions(filepath.Dir(abs), &archive.TarOptions{IncludeFiles: []string{filepath.Base(abs)}})
		if err != nil {
			return out, fmt.Errorf("--copy %s: %w", local, err)
		}
		_, err = io.Copy(f, rc)
		rc.Close()
		if err != nil {
			return out, fmt.Errorf("--copy %s: %w", local, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return out, err
		}
	}
	return out, nil
}

// send copies the archive into dir of the container.
func (c archived) send(ctx context.Context, cli client.ContainerAPIClient, id, dir string) error {
	if dir == "" {
		dir = "/"
	}
	if err := cli.CopyToContainer(ctx, id, dir, c.file, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("--copy %s: %w", c.local, err)
	}
	return nil
}

// SweepEngine is what SweepNeverStarted needs of an engine.
type SweepEngine interface {
	ContainerList(ctx context.Context, o container.ListOptions) ([]container.Summary, error)
	ContainerRemove(ctx context.Context, id string, o container.RemoveOptions) error
	Info(ctx context.Context) (system.Info, error)
}

// SweepOptions say which never-started containers are left behind.
type SweepOptions struct {
	// MinAge: younger ones may still be starting (their ops uploading a
	// --copy). A minute when zero.
	MinAge time.Duration
	// Alive says whether the heartbeat socket of a container's ops still
	// answers (its ops is then uploading, not dead); nil: not asked.
	Alive func(heartbeat string) bool
}

// SweepNeverStarted removes the containers ops created that never started
// (state "created": their ops was killed between create and start) and
// are older than MinAge by the engine's clock, whose ops no longer
// answers. They hold their environment (the configured variables' values)
// until removed. It returns the names removed.
func SweepNeverStarted(ctx context.Context, e SweepEngine, o SweepOptions) ([]string, error) {
	minAge := hookSweepAge(o.MinAge)
	if minAge <= 0 {
		minAge = time.Minute
	}
	list, err := e.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", LabelRun), filters.Arg("status", "created"))})
	if err != nil || len(list) == 0 {
		return nil, err
	}
	now := time.Now()
	if info, err := e.Info(ctx); err == nil {
		if t, err := time.Parse(time.RFC3339Nano, info.SystemTime); err == nil {
			now = t
		}
	}
	var removed []string
	var errs []error
	for _, c := range list {
		if c.State != container.StateCreated || c.Labels[LabelRun] == "" {
			continue
		}
		created := time.Unix(c.Created, 0)
		if c.Created == 0 {
			n, err := strconv.ParseInt(c.Labels[LabelCreated], 10, 64)
			if err != nil {
				continue
			}
			created = time.Unix(n, 0)
		}
		if now.Sub(created) < minAge {
			continue
		}
		if hb := c.Labels[LabelHeartbeat]; hb != "" && o.Alive != nil && o.Alive(hb) {
			continue
		}
		if err := e.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, err)
			continue
		}
		name := c.ID
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		removed = append(removed, name)
	}
	return removed, errors.Join(errs...)
}
