package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/ops-team/ops/helper/docker"
)

func pushCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:  "push",
		Usage: "push the image to its registry (ECR credentials through the AWS SDK, or the Docker config); prints the digest",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("push takes no arguments")
			}
			digest, err := runPush(c.Context, d)
			if err != nil {
				return err
			}
			fmt.Fprintln(d.out, digest)
			return nil
		},
	}
}

func runPush(ctx context.Context, d *deps) (string, error) {
	ref, err := d.imageRef()
	if err != nil {
		return "", err
	}
	cli, err := localEngine(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return "", fmt.Errorf("no image %s in the local engine: run ops build first", ref)
	}
	auth, err := d.registryAuth(ctx, ref)
	if err != nil {
		return "", err
	}
	enc, err := auth.Encode()
	if err != nil {
		return "", err
	}
	digest, err := docker.Push(ctx, cli, ref, enc, d.progress())
	if err != nil {
		return "", err
	}
	fmt.Fprintf(d.err, "ops: pushed %s@%s (credentials: %s)\n", ref, digest, auth.Source)
	return digest, nil
}

func pullCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:  "pull",
		Usage: "pull the image into the local engine (for local-container); prints the digest",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("pull takes no arguments")
			}
			ref, err := d.imageRef()
			if err != nil {
				return err
			}
			cli, err := localEngine(c.Context)
			if err != nil {
				return err
			}
			defer cli.Close()
			auth, err := d.registryAuth(c.Context, ref)
			if err != nil {
				return err
			}
			enc, err := auth.Encode()
			if err != nil {
				return err
			}
			if err := docker.Pull(c.Context, cli, ref, enc, d.progress()); err != nil {
				return err
			}
			digest, err := docker.RepoDigest(c.Context, cli, ref)
			if err != nil {
				return err
			}
			fmt.Fprintln(d.out, digest)
			return nil
		},
	}
}
