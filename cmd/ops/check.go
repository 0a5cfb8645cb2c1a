package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/ops-team/ops/helper/docker"
)

func checkCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "check the operation server: SSH, engine, image digest, ansible in the image, forwarded agent in a container",
		Flags: append(sshFlags(), siteFlag(), &cli.BoolFlag{Name: "json", Usage: "a JSON array of {check, ok, detail} on stdout (and site, with sites)"}),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("check takes no arguments")
			}
			return runCheck(c.Context, d, sshOptionsFrom(c), c.Bool("json"), c.String("site"))
		},
	}
}

// checkItem is one line of the checklist (--json's schema).
type checkItem struct {
	Site   string `json:"site,omitempty"`
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

type checklist struct {
	d      *deps
	site   string
	failed int
	json   bool
	items  []checkItem
}

func (c *checklist) line(ok bool, name, format string, a ...any) bool {
	status := "ok"
	if !ok {
		status = "FAILED"
		c.failed++
	}
	detail := fmt.Sprintf(format, a...)
	c.items = append(c.items, checkItem{Site: c.site, Check: name, OK: ok, Detail: detail})
	if !c.json {
		fmt.Fprintf(c.d.out, "%-7s %-9s %s\n", status, name, detail)
	}
	return ok
}

func randomName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// runCheck checks each selected site's server at once; with named
// sites, each checklist is printed under its site's name.
func runCheck(ctx context.Context, d *deps, o sshOptions, asJSON bool, siteSpec string) error {
	sites, err := d.selectSites(siteSpec)
	if err != nil {
		return err
	}
	ref, err := d.imageRef()
	if err != nil {
		return err
	}
	lists := make([]*checklist, len(sites))
	outs := make([]bytes.Buffer, len(sites))
	var wg sync.WaitGroup
	for i, s := range sites {
		sd := d
		if s != nil {
			sd = d.atSite(s, &outs[i], nil)
		}
		lists[i] = &checklist{d: sd, json: asJSON}
		if s != nil {
			lists[i].site = s.Name
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			checkServer(ctx, sd, o, lists[i], ref)
		}()
	}
	wg.Wait()
	var items []checkItem
	failed := 0
	for i, s := range sites {
		if s != nil && !asJSON {
			fmt.Fprintf(d.out, "site %s (%s)\n", s.Name, s.Host)
			_, _ = outs[i].WriteTo(d.out)
		}
		items = append(items, lists[i].items...)
		failed += lists[i].failed
	}
	if asJSON {
		if items == nil {
			items = []checkItem{}
		}
		if err := json.NewEncoder(d.out).Encode(items); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d check(s) failed", failed)
	}
	return nil
}

// checkServer fills cl with the checks of d's operation server.
func checkServer(ctx context.Context, d *deps, o sshOptions, cl *checklist, ref string) {
	client, err := d.dialServer(ctx, o)
	if !cl.line(err == nil, "ssh", "%s", errOr(err, func() string {
		return fmt.Sprintf("%s reached, host key verified against %s", client.Dest, d.cfg.Path("ssh.known_hosts"))
	})) {
		return
	}
	defer client.Close()
	remote, err := d.serverEngine(ctx, client)
	if !cl.line(err == nil, "engine", "%s", errOr(err, func() string {
		v, _ := remote.ServerVersion(ctx)
		return fmt.Sprintf("Docker %s at %s", v.Version, d.serverSocket())
	})) {
		return
	}
	defer remote.Close()

	have, err := docker.RepoDigest(ctx, remote, ref)
	imageOK := err == nil && have != ""
	if !imageOK {
		cl.line(false, "image", "%s is not on the operation server: run ops deploy", ref)
	} else {
		want, werr := d.registryDigest(ctx, ref)
		switch {
		case werr != nil:
			cl.line(false, "image", "%s@%s present; the registry's digest is unknown: %v", ref, have, werr)
		case want != have:
			cl.line(false, "image", "%s@%s present, but the registry has %s: run ops deploy", ref, have, want)
		default:
			cl.line(true, "image", "%s@%s, as in the registry", ref, have)
		}
	}
	if imageOK {
		var out, errb bytes.Buffer
		code, err := docker.RunCaptured(ctx, remote, docker.Spec{Name: "ops-check-" + randomName(), Image: ref, Cmd: []string{"ansible", "--version"}}, &out, &errb)
		first, _, _ := strings.Cut(out.String(), "\n")
		cl.line(err == nil && code == 0, "ansible", "%s", errOr(orExit(err, code, errb.String()), func() string { return first + " in the image" }))
		cl.checkMackerel(ctx, d, client, remote, ref)

		fwd, err := d.forwardedAgent(client, o)
		if err == nil && fwd == nil {
			err = fmt.Errorf("no agent to forward (SSH_AUTH_SOCK)")
		}
		if err == nil {
			sock := "/tmp/ops-agent-" + randomName() + ".sock"
			var stop func()
			if stop, err = client.ServeOnServer(fwd, sock); err == nil {
				out.Reset()
				errb.Reset()
				code, err = docker.RunCaptured(ctx, remote, docker.Spec{
					Name: "ops-check-" + randomName(), Image: ref, Cmd: []string{"ssh-add", "-l"},
					Env: []string{"SSH_AUTH_SOCK=/run/ops/agent.sock"}, Binds: []string{sock + ":/run/ops/agent.sock"},
				}, &out, &errb)
				stop()
				err = orExit(err, code, errb.String()+out.String())
			}
		}
		cl.line(err == nil, "agent", "%s", errOr(err, func() string {
			return fmt.Sprintf("forwarded agent visible in a container (%d key(s))", strings.Count(strings.TrimSpace(out.String()), "\n")+1)
		}))
	}
}

// registryDigest asks the registry (through the local engine) which digest ref has.
func (d *deps) registryDigest(ctx context.Context, ref string) (string, error) {
	cli, err := localEngine(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	auth, err := d.registryAuth(ctx, ref)
	if err != nil {
		return "", err
	}
	enc, err := auth.Encode()
	if err != nil {
		return "", err
	}
	di, err := cli.DistributionInspect(ctx, ref, enc)
	if err != nil {
		return "", err
	}
	return di.Descriptor.Digest.String(), nil
}

func errOr(err error, ok func() string) string {
	if err != nil {
		return err.Error()
	}
	return ok()
}

func orExit(err error, code int, output string) error {
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("exit %d: %s", code, strings.TrimSpace(output))
	}
	return nil
}
