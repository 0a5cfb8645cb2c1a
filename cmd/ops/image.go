package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/docker/docker/client"

	"github.com/ops-team/ops/helper/docker"
	"github.com/ops-team/ops/helper/registry"
)

// imageRef is image.name:image.tag.
func (d *deps) imageRef() (string, error) {
	name, tag := d.cfg.String("image.name"), d.cfg.String("image.tag")
	if name == "" || tag == "" {
		return "", usagef("image.name and image.tag must be set")
	}
	ref := name + ":" + tag
	if _, err := registry.Host(ref); err != nil {
		return "", usageError{err}
	}
	return ref, nil
}

// registryAuth finds credentials for the registry of ref as registry.auth says.
func (d *deps) registryAuth(ctx context.Context, ref string) (registry.Auth, error) {
	host, err := registry.Host(ref)
	if err != nil {
		return registry.Auth{}, err
	}
	mode := d.cfg.String("registry.auth")
	if mode == "auto" {
		mode = "docker-config"
		if _, _, ok := registry.ParseECRHost(host); ok {
			mode = "ecr"
		}
	}
	switch mode {
	case "ecr":
		cache := ""
		if dir, err := os.UserCacheDir(); err == nil {
			cache = filepath.Join(dir, "ops", "ecr")
		}
		a, err := registry.ECR{
			Region: d.cfg.String("registry.ecr_region"), Endpoint: d.cfg.String("registry.ecr_endpoint"),
			Profile: d.cfg.String("aws.profile"), CacheDir: cache, Log: d.err,
		}.Auth(ctx, host)
		if err != nil {
			return registry.Auth{}, err
		}
		return a, nil
	case "docker-config":
		return registry.DockerConfig(d.getenv("DOCKER_CONFIG"), host)
	}
	return registry.Auth{}, usagef("registry.auth is %q: use auto, ecr or docker-config", mode)
}

// localEngine connects to the local engine and checks that it answers.
func localEngine(ctx context.Context) (*client.Client, error) {
	cli, err := docker.Local()
	if err != nil {
		return nil, err
	}
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("the local Docker engine does not answer (%s): %v", cli.DaemonHost(), rootErr(err))
	}
	return cli, nil
}

func rootErr(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// progress renders engine messages on stderr.
func (d *deps) progress() docker.Progress {
	p := docker.Progress{Out: d.err}
	if f, ok := d.err.(*os.File); ok {
		p.Fd = f.Fd()
		p.Terminal = isTerminal(f)
	}
	return p
}
