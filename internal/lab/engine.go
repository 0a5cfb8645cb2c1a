package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

func engine(host string) (*client.Client, error) {
	opts := []client.Opt{client.WithAPIVersionNegotiation()}
	if host == "" {
		opts = append(opts, client.FromEnv)
	} else {
		opts = append(opts, client.WithHost(host))
	}
	return client.NewClientWithOpts(opts...)
}

func pingEngine(ctx context.Context, host string) error {
	cli, err := engine(host)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = cli.Ping(ctx)
	return err
}

// localEngine uses a running local engine or starts dockerd.
func (u *upper) localEngine(ctx context.Context) error {
	if pingEngine(ctx, "") == nil {
		return nil
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return fmt.Errorf("DOCKER_HOST=%s does not answer", h)
	}
	u.logf("starting the local Docker engine")
	p, err := u.spawn("local-dockerd", "/usr/sbin/dockerd")
	if err != nil {
		return err
	}
	u.st.LocalEngineStarted = true
	return waitFor(ctx, p, 60*time.Second, func() error { return pingEngine(ctx, "") })
}

// baseImage makes sure BaseImage exists locally: present, pulled, or built
// with debootstrap and imported.
func (u *upper) baseImage(ctx context.Context) error {
	cli, err := engine("")
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, BaseImage); err == nil {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	rc, err := cli.ImagePull(pctx, BaseImage, image.PullOptions{})
	if err == nil {
		err = jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil)
		rc.Close()
	}
	cancel()
	if err == nil {
		return nil
	}
	u.logf("%s cannot be pulled (%v); building it with debootstrap", BaseImage, err)
	root := filepath.Join(u.o.Dir, "rootfs")
	defer os.RemoveAll(root)
	mirror := os.Getenv("OPS_LAB_MIRROR")
	if mirror == "" {
		mirror = "http://deb.debian.org/debian"
	}
	if err := run(ctx, "debootstrap", "--variant=minbase", "bookworm", root, mirror); err != nil {
		return err
	}
	tar := exec.CommandContext(ctx, "tar", "--numeric-owner", "-C", root, "-c", ".")
	out, err := tar.StdoutPipe()
	if err != nil {
		return err
	}
	if err := tar.Start(); err != nil {
		return err
	}
	rc, err = cli.ImageImport(ctx, image.ImportSource{Source: out, SourceName: "-"}, BaseImage, image.ImportOptions{Changes: []string{`CMD ["bash"]`}})
	if err != nil {
		_ = tar.Process.Kill()
		_ = tar.Wait()
		return err
	}
	err = jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil)
	rc.Close()
	if werr := tar.Wait(); werr != nil {
		err = errors.Join(err, fmt.Errorf("tar: %w", werr))
	}
	return err
}
