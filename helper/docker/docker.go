// Package docker drives Docker engines through the Go SDK: the local one,
// or one reached through a connection the caller dials (the operation
// server's, over SSH). It builds from a context made in memory, pushes and
// pulls with progress rendered as the docker CLI renders it, and runs
// containers.
package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// Local connects to the engine named by DOCKER_HOST, or the default socket.
func Local() (*client.Client, error) {
	return client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
}

// Dialed connects to an engine through dial (for example a unix socket
// reached through SSH).
func Dialed(dial func(ctx context.Context) (net.Conn, error)) (*client.Client, error) {
	return client.NewClientWithOpts(
		client.WithHost("http://docker.invalid"),
		client.WithDialContext(func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }),
		client.WithAPIVersionNegotiation(),
	)
}

// Progress is where the engine's JSON messages are rendered: as the docker
// CLI does on a terminal (Fd, Terminal), plain lines otherwise.
type Progress struct {
	Out      io.Writer
	Fd       uintptr
	Terminal bool
}

func (p Progress) render(r io.Reader, aux func(jsonmessage.JSONMessage)) error {
	out := p.Out
	if out == nil {
		out = io.Discard
	}
	err := jsonmessage.DisplayJSONMessagesStream(r, out, p.Fd, p.Terminal, aux)
	var je *jsonmessage.JSONError
	if errors.As(err, &je) {
		return errors.New(strings.TrimSpace(je.Message))
	}
	return err
}

// File is one entry of a build context.
type File struct {
	Name string // path inside the context
	Path string // file on disk
}

// Context writes a tar of the files, in name order, with fixed owners and
// times, so that an unchanged source gives an unchanged context.
func Context(files []File, mtime time.Time) (*bytes.Buffer, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		b, err := os.ReadFile(f.Path)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(f.Path)
		if err != nil {
			return nil, err
		}
		mode := int64(0o644)
		if fi.Mode()&0o111 != 0 {
			mode = 0o755
		}
		hdr := &tar.Header{Name: filepath.ToSlash(f.Name), Mode: mode, Size: int64(len(b)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	return &buf, tw.Close()
}

// Tree lists the regular files under dir as context entries below prefix.
func Tree(dir, prefix string) ([]File, error) {
	var out []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, File{Name: filepath.ToSlash(filepath.Join(prefix, rel)), Path: p})
		}
		return nil
	})
	return out, err
}

// BuildOptions describe an image build.
type BuildOptions struct {
	Context   io.Reader
	Tag       string
	Labels    map[string]string
	BuildArgs map[string]*string
	Progress  Progress
}

// Build builds and tags the image and returns its ID.
func Build(ctx context.Context, cli client.ImageAPIClient, o BuildOptions) (string, error) {
	resp, err := cli.ImageBuild(ctx, o.Context, build.ImageBuildOptions{
		Tags: []string{o.Tag}, Labels: o.Labels, BuildArgs: o.BuildArgs,
		Remove: true, ForceRemove: true, Dockerfile: "Dockerfile",
	})
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	defer resp.Body.Close()
	var id string
	err = o.Progress.render(resp.Body, func(m jsonmessage.JSONMessage) {
		var aux struct{ ID string }
		if m.Aux != nil && json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
			id = aux.ID
		}
	})
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	if id == "" {
		ins, err := cli.ImageInspect(ctx, o.Tag)
		if err != nil {
			return "", err
		}
		id = ins.ID
	}
	return id, nil
}

// Push pushes ref and returns the digest the registry gave it.
func Push(ctx context.Context, cli client.ImageAPIClient, ref, auth string, p Progress) (string, error) {
	rc, err := cli.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	defer rc.Close()
	var digest string
	err = p.render(rc, func(m jsonmessage.JSONMessage) {
		var aux struct{ Digest string }
		if m.Aux != nil && json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
			digest = aux.Digest
		}
	})
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	if digest == "" {
		return "", fmt.Errorf("push %s: the engine reported no digest", ref)
	}
	return digest, nil
}

// Pull pulls ref.
func Pull(ctx context.Context, cli client.ImageAPIClient, ref, auth string, p Progress) error {
	rc, err := cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	defer rc.Close()
	if err := p.render(rc, nil); err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	return nil
}

// RepoDigest returns the digest ref has in its repository, as the engine
// recorded it ("" when the image was never pushed or pulled).
func RepoDigest(ctx context.Context, cli client.ImageAPIClient, ref string) (string, error) {
	ins, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		return "", err
	}
	repo := ref
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo = ref[:i]
	}
	for _, rd := range ins.RepoDigests {
		if r, d, ok := strings.Cut(rd, "@"); ok && r == repo {
			return d, nil
		}
	}
	return "", nil
}
