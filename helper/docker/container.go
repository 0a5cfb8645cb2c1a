package docker

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
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
