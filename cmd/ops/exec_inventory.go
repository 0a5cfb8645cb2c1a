package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/ops-team/ops/helper/ansible"
	"github.com/ops-team/ops/helper/fanout"
	"github.com/ops-team/ops/helper/sshx"
)

// The inventory side of ops exec: which hosts a pattern selects, and how
// to reach each of them.

func (d *deps) loadInventory(ctx context.Context, o execOptions, acfg *ansible.ConfigFile) (*ansible.Inventory, []string, error) {
	inv, err := openInventory(ctx, inventorySources(d, o.inventories, acfg.Inventory), o.extraVars, "")
	if err != nil {
		return nil, nil, err
	}
	hosts, err := inv.Select(o.pattern)
	if err != nil {
		return nil, nil, usageError{err}
	}
	if o.limit != "" {
		// As Ansible's --limit: the pattern's hosts, in its order, that the
		// limit also selects.
		lp, err := o.limitPattern()
		if err != nil {
			return nil, nil, err
		}
		limited, err := inv.Select(lp)
		if err != nil {
			return nil, nil, usagef("--limit: %v", err)
		}
		in := make(map[string]bool, len(limited))
		for _, h := range limited {
			in[h] = true
		}
		hosts = slices.DeleteFunc(hosts, func(h string) bool { return !in[h] })
	}
	return inv, hosts, nil
}

func runListHosts(ctx context.Context, d *deps, o execOptions) error {
	acfg, err := d.ansibleConfig()
	if err != nil {
		return err
	}
	_, hosts, err := d.loadInventory(ctx, o, acfg)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		fmt.Fprintln(d.out, h)
	}
	return nil
}

// reach is how ops reaches targets, as OpenSSH reaches them for Ansible:
// ansible.cfg's ssh_args and host key checking, each host's connection
// variables, the command line's, and the ssh config file (~/.ssh/config,
// ssh.config, or -F) with its Includes, ProxyJump and IdentityFiles.
type reach struct {
	d         *deps
	o         execOptions
	acfg      *ansible.ConfigFile
	home      string
	resolvers map[string]*sshx.Resolver
	hostKeys  *sshx.HostKeyPolicies
	keys      sshx.KeyFiles
}

func (d *deps) newReach(o execOptions, acfg *ansible.ConfigFile) *reach {
	home, _ := os.UserHomeDir()
	return &reach{d: d, o: o, acfg: acfg, home: home, resolvers: map[string]*sshx.Resolver{},
		hostKeys: &sshx.HostKeyPolicies{Path: d.cfg.Path("ssh.known_hosts"), Default: "accept-new"}}
}

func (r *reach) resolver(file string) (*sshx.Resolver, error) {
	if file == "" {
		file = r.d.cfg.Path("ssh.config")
	}
	if res, ok := r.resolvers[file]; ok {
		return res, nil
	}
	res, err := sshx.LoadResolver(file, localUser(), r.home)
	if err != nil {
		return nil, usagef("ssh config: %v", err)
	}
	r.resolvers[file] = res
	return res, nil
}

// target resolves one host; what it describes goes to -v.
func (r *reach) target(inv *ansible.Inventory, name string) (fanout.Target, string, error) {
	bad := func(format string, a ...any) error { return usagef("host %s: %s", name, fmt.Sprintf(format, a...)) }
	// ansible_host/port/user/key/ssh args with their aliases, templated.
	c, err := inv.Connection(name)
	if err != nil {
		return fanout.Target{}, "", usageError{err}
	}
	addr := c.Host
	if addr == "" {
		addr = name
	}
	pick := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	a, err := sshx.AnsibleSSH{
		SSHArgs: r.acfg.SSHArgs, HostKeyChecking: r.acfg.HostKeyChecking, Port: c.Port,
		PrivateKeyFile: pick(c.PrivateKeyFile, r.o.privateKey),
		User:           pick(c.User, r.o.user),
		CommonArgs:     pick(c.SSHCommonArgs, r.o.sshCommonArgs),
		ExtraArgs:      pick(c.SSHExtraArgs, r.o.sshExtraArgs),
	}.Args()
	if err != nil {
		return fanout.Target{}, "", bad("%v", err)
	}
	res, err := r.resolver(a.ConfigFile)
	if err != nil {
		return fanout.Target{}, "", err
	}
	dest, err := res.ResolveArgs(addr, a)
	if err != nil {
		return fanout.Target{}, "", bad("%v", err)
	}
	if dest.ProxyCommand != "" {
		return fanout.Target{}, "", bad("ProxyCommand is not supported (ProxyJump is): %s", dest.ProxyCommand)
	}
	hk, err := r.hostKeys.For(dest.StrictHostKeyChecking, dest.KnownHostsFiles)
	if err != nil {
		return fanout.Target{}, "", bad("%v", err)
	}
	t := fanout.Target{Name: name, Addr: dest.Addr(), User: dest.User, HostKey: hk.Callback(), HostKeyAlgorithms: hk.Algorithms(dest.Addr()),
		Become: c.Become, BecomeUser: c.BecomeUser}
	if c.BecomeMethod != "" && c.BecomeMethod != "sudo" {
		return fanout.Target{}, "", bad("ansible_become_method %s: only sudo is implemented", c.BecomeMethod)
	}
	// Keys named on the command line or by the host are required; the
	// ssh config's are tried when they exist, as ssh does.
	n := min(len(a.Identities), len(dest.IdentityFiles))
	named, err := r.keys.Signers(dest.IdentityFiles[:n], true)
	if err != nil {
		return fanout.Target{}, "", bad("private key: %v", err)
	}
	more, _ := r.keys.Signers(dest.IdentityFiles[n:], false)
	t.Signers = append(named, more...)
	keySource := "agent"
	if len(dest.IdentityFiles) > 0 {
		keySource = strings.Join(dest.IdentityFiles, ", ") + ", then the agent"
	}
	jumps, err := res.Jumps(dest)
	if err != nil {
		return fanout.Target{}, "", bad("%v", err)
	}
	var via []string
	for _, j := range jumps {
		jhk, err := r.hostKeys.For(j.StrictHostKeyChecking, j.KnownHostsFiles)
		if err != nil {
			return fanout.Target{}, "", bad("jump host %s: %v", j, err)
		}
		js, _ := r.keys.Signers(j.IdentityFiles, false)
		t.Jump = append(t.Jump, fanout.JumpHop{Addr: j.Addr(), User: j.User, Signers: js, HostKey: jhk.Callback(), HostKeyAlgorithms: jhk.Algorithms(j.Addr())})
		via = append(via, j.String())
	}
	desc := fmt.Sprintf("%s: %s, key: %s", name, dest, keySource)
	if len(via) > 0 {
		desc += ", through " + strings.Join(via, " → ")
	}
	return t, desc, nil
}

// targets resolves every host; a host that cannot be reached as given is a
// usage error (exit 2) before anything runs.
func (d *deps) targets(inv *ansible.Inventory, hosts []string, o execOptions, acfg *ansible.ConfigFile) ([]fanout.Target, error) {
	r := d.newReach(o, acfg)
	out := make([]fanout.Target, 0, len(hosts))
	for _, name := range hosts {
		t, desc, err := r.target(inv, name)
		if err != nil {
			return nil, err
		}
		if o.verbose > 0 {
			fmt.Fprintf(d.err, "ops exec: %s\n", desc)
		}
		out = append(out, t)
	}
	return out, nil
}

// becomePassword asks once, on stderr, and reads the answer from the
// terminal (not echoed) or a line of stdin.
func (d *deps) becomePassword(ctx context.Context) (string, error) {
	fmt.Fprint(d.err, "BECOME password: ")
	return d.answer(ctx, false, "-K: no become password on stdin (and it is no terminal)")
}

// answer reads a line from the terminal (echoed or not) or, when stdin
// is no terminal, from stdin; none there is a usage error saying none.
// An interrupt ends the wait and gives the terminal back as it was.
func (d *deps) answer(ctx context.Context, echo bool, none string) (string, error) {
	type answer struct {
		pw  string
		err error
	}
	got := make(chan answer, 1)
	fd, isTerm := d.stdinTerminal()
	var saved *term.State
	if isTerm {
		saved, _ = term.GetState(fd)
	}
	go func() {
		if isTerm && !echo {
			b, err := term.ReadPassword(fd)
			got <- answer{string(b), err}
			return
		}
		line, err := bufio.NewReader(d.in).ReadString('\n')
		if err != nil && line == "" {
			got <- answer{"", usagef("%s", none)}
			return
		}
		got <- answer{strings.TrimRight(line, "\r\n"), nil}
	}()
	select {
	case a := <-got:
		if isTerm && !echo {
			fmt.Fprintln(d.err)
		}
		return a.pw, a.err
	case <-ctx.Done():
		if saved != nil {
			_ = term.Restore(fd, saved)
		}
		fmt.Fprintln(d.err)
		return "", ctx.Err()
	}
}
