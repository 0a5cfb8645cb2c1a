package main

import (
	"context"
	"fmt"
	"net"

	dclient "github.com/docker/docker/client"
	"github.com/urfave/cli/v2"

	"github.com/ops-team/ops/helper/docker"
	"github.com/ops-team/ops/helper/sshx"
)

type deployOptions struct {
	ssh     sshOptions
	root    string
	noBuild bool
}

func deployCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:  "deploy",
		Usage: "build, push, then pull the image on the operation server through its Docker API over SSH",
		Flags: append(sshFlags(),
			&cli.StringFlag{Name: "project", Usage: "project `DIR` holding image/ (default: found upwards from here)"},
			&cli.BoolFlag{Name: "no-build", Usage: "push and pull the image already built"}),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("deploy takes no arguments")
			}
			o := deployOptions{ssh: sshOptionsFrom(c), noBuild: c.Bool("no-build")}
			if !o.noBuild {
				root, err := projectRoot(c.String("project"))
				if err != nil {
					return err
				}
				o.root = root
			}
			return runDeploy(c.Context, d, o)
		},
	}
}

// serverEngine connects to the operation server's engine through SSH.
func (d *deps) serverEngine(ctx context.Context, client *sshx.Client) (*dclient.Client, error) {
	sock := d.cfg.String("server.docker_socket")
	cli, err := docker.Dialed(func(ctx context.Context) (net.Conn, error) { return client.DialContext(ctx, "unix", sock) })
	if err != nil {
		return nil, err
	}
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("the operation server's Docker engine at %s does not answer: %v", sock, rootErr(err))
	}
	return cli, nil
}

// connectServer reaches the operation server and its engine through SSH;
// closeAll closes both.
func (d *deps) connectServer(ctx context.Context, o sshOptions) (*sshx.Client, *dclient.Client, func(), error) {
	client, err := d.dialServer(ctx, o)
	if err != nil {
		return nil, nil, nil, err
	}
	remote, err := d.serverEngine(ctx, client)
	if err != nil {
		client.Close()
		return nil, nil, nil, err
	}
	return client, remote, func() { remote.Close(); client.Close() }, nil
}

func runDeploy(ctx context.Context, d *deps, o deployOptions) error {
	ref, err := d.imageRef()
	if err != nil {
		return err
	}
	// Reach the server first: a deploy that cannot finish should not start.
	_, remote, closeServer, err := d.connectServer(ctx, o.ssh)
	if err != nil {
		return err
	}
	defer closeServer()
	if !o.noBuild {
		if _, err := runBuild(ctx, d, buildOptions{root: o.root}); err != nil {
			return err
		}
	}
	pushed, err := runPush(ctx, d)
	if err != nil {
		return err
	}
	auth, err := d.registryAuth(ctx, ref)
	if err != nil {
		return err
	}
	enc, err := auth.Encode()
	if err != nil {
		return err
	}
	if err := docker.Pull(ctx, remote, ref, enc, d.progress()); err != nil {
		return fmt.Errorf("on the operation server: %w", err)
	}
	pulled, err := docker.RepoDigest(ctx, remote, ref)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.err, "ops: pushed           %s\nops: operation server %s\n", pushed, pulled)
	if pulled != pushed {
		return fmt.Errorf("the operation server has %s, not the pushed %s", pulled, pushed)
	}
	fmt.Fprintln(d.out, pulled)
	return nil
}
