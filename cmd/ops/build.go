package main

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ops-team/ops/helper/docker"
)

type buildOptions struct {
	root string // project checkout holding image/ and playbooks/
}

func buildCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:  "build",
		Usage: "build the image (ops and mackerel-inventory cross-compiled into it) with the local engine",
		Flags: []cli.Flag{&cli.StringFlag{Name: "project", Usage: "project `DIR` holding image/ (default: found upwards from here)"}},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("build takes no arguments")
			}
			root, err := projectRoot(c.String("project"))
			if err != nil {
				return err
			}
			id, err := runBuild(c.Context, d, buildOptions{root: root})
			if err != nil {
				return err
			}
			fmt.Fprintln(d.out, id)
			return nil
		},
	}
}

// projectRoot finds the directory that holds image/Dockerfile.
func projectRoot(dir string) (string, error) {
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "image", "Dockerfile")); err != nil {
			return "", usagef("%s has no image/Dockerfile", dir)
		}
		return filepath.Abs(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "image", "Dockerfile")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", usagef("no image/Dockerfile here or above %s: run ops build in the project (or pass --project)", wd)
		}
	}
}

var goarch = map[string]string{"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "s390x": "s390x", "ppc64le": "ppc64le"}

// runBuild cross-compiles the binaries for the engine's platform, builds
// the image and returns its ID.
func runBuild(ctx context.Context, d *deps, o buildOptions) (string, error) {
	ref, err := d.imageRef()
	if err != nil {
		return "", err
	}
	cli, err := localEngine(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	info, err := cli.Info(ctx)
	if err != nil {
		return "", err
	}
	arch, ok := goarch[info.Architecture]
	if !ok || info.OSType != "linux" {
		return "", fmt.Errorf("the engine's platform %s/%s is not one ops builds for", info.OSType, info.Architecture)
	}
	tmp, err := os.MkdirTemp("", "ops-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	for _, name := range []string{"ops", "mackerel-inventory"} {
		if err := crossCompile(ctx, o.root, name, filepath.Join(tmp, name), arch); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(d.err, "ops: compiled ops and mackerel-inventory for linux/%s in %.1fs\n", arch, time.Since(start).Seconds())
	labels, mtime, err := sourceLabels(filepath.Join(tmp, "ops"))
	if err != nil {
		return "", err
	}
	if labels["org.opencontainers.image.revision"] == "unknown" {
		fmt.Fprintln(d.err, "ops: warning: the source revision is unknown (not a git checkout, or git not on PATH); the image's revision label says so")
	}
	files, err := docker.Tree(filepath.Join(o.root, "image"), "")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(o.root, "playbooks")); err == nil {
		pb, err := docker.Tree(filepath.Join(o.root, "playbooks"), "playbooks")
		if err != nil {
			return "", err
		}
		files = append(files, pb...)
	}
	files = append(files, docker.File{Name: "bin/ops", Path: filepath.Join(tmp, "ops")},
		docker.File{Name: "bin/mackerel-inventory", Path: filepath.Join(tmp, "mackerel-inventory")})
	tarball, err := docker.Context(files, mtime)
	if err != nil {
		return "", err
	}
	base := d.cfg.String("image.base")
	start = time.Now()
	id, err := docker.Build(ctx, cli, docker.BuildOptions{
		Context: tarball, Tag: ref, Labels: labels,
		BuildArgs: map[string]*string{"BASE": &base}, Progress: d.progress(),
	})
	if err != nil {
		return "", err
	}
	ins, err := cli.ImageInspect(ctx, id)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(d.err, "ops: built %s (%s, %.0f MB) in %.1fs\n", ref, shortID(id), float64(ins.Size)/1e6, time.Since(start).Seconds())
	return id, nil
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func crossCompile(ctx context.Context, root, name, out, arch string) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return errors.New("ops build needs the Go toolchain (go on PATH) to cross-compile ops into the image")
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-trimpath", "-buildvcs=auto", "-ldflags=-s -w", "-o", out, "./cmd/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/%s: %v: %s", name, err, strings.TrimSpace(string(b)))
	}
	return nil
}

// sourceLabels reads the revision the binary was built from: labels name
// it and its commit time (not the build time, so that an unchanged source
// gives the same image).
func sourceLabels(bin string) (map[string]string, time.Time, error) {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return nil, time.Time{}, err
	}
	labels := map[string]string{"org.opencontainers.image.title": "ops"}
	var mtime time.Time
	rev, dirty := "unknown", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			labels["org.opencontainers.image.created"] = s.Value
			mtime, _ = time.Parse(time.RFC3339, s.Value)
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	labels["org.opencontainers.image.revision"] = rev
	labels["io.ops.source.dirty"] = fmt.Sprint(dirty)
	labels["io.ops.version"] = bi.Main.Version
	return labels, mtime, nil
}
