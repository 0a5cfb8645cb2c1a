package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"

	dclient "github.com/docker/docker/client"
	"github.com/urfave/cli/v2"

	"github.com/ops-team/ops/helper/docker"
	"github.com/ops-team/ops/helper/sshx"
)

type deployOptions struct {
	ssh     sshOptions
	root    string
	noBuild bool
	site    string // --site
}

func deployCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:  "deploy",
		Usage: "build, push, then pull the image on the operation server through its Docker API over SSH",
		Flags: append(sshFlags(), siteFlag(),
			&cli.StringFlag{Name: "project", Usage: "project `DIR` holding image/ (default: found upwards from here)"},
			&cli.BoolFlag{Name: "no-build", Usage: "push and pull the image already built"}),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("deploy takes no arguments")
			}
			o := deployOptions{ssh: sshOptionsFrom(c), noBuild: c.Bool("no-build"), site: c.String("site")}
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
	sock := d.serverSocket()
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

// runDeploy builds and pushes once, then pulls on every selected site's
// server at once; each must end with the pushed digest.
func runDeploy(ctx context.Context, d *deps, o deployOptions) error {
	sites, err := d.selectSites(o.site)
	if err != nil {
		return err
	}
	ref, err := d.imageRef()
	if err != nil {
		return err
	}
	// Reach every server first: a deploy that cannot finish should not start.
	remotes := make([]*dclient.Client, len(sites))
	for i, s := range sites {
		_, remote, closeServer, err := d.atSite(s, nil, nil).connectServer(ctx, o.ssh)
		if err != nil {
			if s != nil {
				return fmt.Errorf("site %s: %w", s.Name, err)
			}
			return err
		}
		defer closeServer()
		remotes[i] = remote
	}
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
	pulled := make([]string, len(sites))
	errs := make([]error, len(sites))
	var wg sync.WaitGroup
	for i := range sites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			progress := d.progress()
			if len(sites) > 1 {
				progress = docker.Progress{} // several pulls at once: no interleaved bars
			}
			if err := docker.Pull(ctx, remotes[i], ref, enc, progress); err != nil {
				errs[i] = fmt.Errorf("on the operation server: %w", err)
				return
			}
			pulled[i], errs[i] = docker.RepoDigest(ctx, remotes[i], ref)
		}()
	}
	wg.Wait()
	fmt.Fprintf(d.err, "ops: pushed           %s\n", pushed)
	var bad []string
	for i, s := range sites {
		name, label := "", "operation server"
		if s != nil {
			name, label = s.Name, "site "+s.Name
		}
		switch {
		case errs[i] != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", label, errs[i]))
			continue
		case pulled[i] != pushed:
			bad = append(bad, fmt.Sprintf("%s has %s, not the pushed %s", label, pulled[i], pushed))
		}
		fmt.Fprintf(d.err, "ops: %-16s %s\n", label, pulled[i])
		if name != "" {
			fmt.Fprintf(d.out, "%s %s\n", name, pulled[i])
		} else if pulled[i] == pushed {
			fmt.Fprintln(d.out, pulled[i])
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}
