package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"

	dclient "github.com/docker/docker/client"
	"github.com/ops-team/ops/helper/docker"
	"github.com/ops-team/ops/helper/mackerel"
	"github.com/ops-team/ops/helper/sshx"
)

// checkMackerel runs the image's mackerel-inventory on the operation
// server as remote-container would run it: the same mounts (the server's
// mackerel-agent.conf by default) and container.env. Without any key
// source there, the Mackerel inventory is simply not in use: ok, said so.
func (cl *checklist) checkMackerel(ctx context.Context, d *deps, client *sshx.Client, remote dclient.ContainerAPIClient, ref string) {
	mounts, err := d.containerMounts(serverFileExists(ctx, client))
	if err != nil {
		cl.line(false, "mackerel", "%v", err)
		return
	}
	if d.cfg.Get("container.mounts").Source != "default" {
		// Explicit mounts: the engine refuses a container whose source
		// is missing, so remote-container would fail.
		for _, m := range mounts {
			code, err := client.Run(ctx, sshx.RunOptions{Cmd: "test -e " + sshx.Quote(m.Source), Stdout: io.Discard, Stderr: io.Discard})
			if err != nil || code != 0 {
				cl.line(false, "mackerel", "container.mounts: %s is not on the operation server (remote-container would fail): create it or drop the mount", m.Source)
				return
			}
		}
	}
	source := ""
	for _, m := range mounts {
		if m.Target == mackerel.DefaultAgentConf {
			source = "apikey in the server's " + m.Source
		}
	}
	var env []string
	for _, name := range d.cfg.List("container.env") {
		if v := d.getenv(name); v != "" && strings.HasPrefix(name, "MACKEREL_") {
			env = append(env, name+"="+v)
			if name == "MACKEREL_APIKEY" {
				source = "MACKEREL_APIKEY passed by container.env"
			}
		}
	}
	if source == "" {
		cl.line(true, "mackerel", "no Mackerel key reaches the container (no mackerel-agent.conf mounted at %s, no MACKEREL_APIKEY in container.env): only other inventories will work", mackerel.DefaultAgentConf)
		return
	}
	var out, errb bytes.Buffer
	code, err := docker.RunCaptured(ctx, remote, docker.Spec{Name: "ops-check-" + randomName(), Image: ref,
		Cmd: []string{"mackerel-inventory", "--list"}, Env: env, ReadOnly: mounts, HostNetwork: true}, &out, &errb)
	if err = orExit(err, code, errb.String()); err != nil {
		cl.line(false, "mackerel", "mackerel-inventory in the image (%s): %v", source, err)
		return
	}
	var inv struct {
		Meta struct {
			Hostvars map[string]json.RawMessage `json:"hostvars"`
		} `json:"_meta"`
	}
	if err := json.Unmarshal(out.Bytes(), &inv); err != nil {
		cl.line(false, "mackerel", "mackerel-inventory in the image printed no inventory (%v)", err)
		return
	}
	cl.line(true, "mackerel", "mackerel-inventory in the image lists %d host(s) (%s)", len(inv.Meta.Hostvars), source)
}
