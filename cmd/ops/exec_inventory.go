package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/ops-team/ops/helper/ansible"
	"github.com/ops-team/ops/helper/fanout"
	"github.com/ops-team/ops/helper/sshx"
)

// The inventory side of ops exec: which hosts a pattern selects, and how
// to reach each of them.

func (d *deps) loadInventory(ctx context.Context, o execOptions) (*ansible.Inventory, []string, error) {
	sources := o.inventories
	if len(sources) == 0 {
		if env := d.getenv("ANSIBLE_INVENTORY"); env != "" {
			sources = strings.Split(env, ",")
		} else {
			sources = []string{"/etc/ansible/hosts"}
		}
	}
	inv, err := openInventory(ctx, sources, o.extraVars, "")
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
	_, hosts, err := d.loadInventory(ctx, o)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		fmt.Fprintln(d.out, h)
	}
	return nil
}

// targets resolves each host's address, port, user and key as Ansible would.
func (d *deps) targets(inv *ansible.Inventory, hosts []string, o execOptions) ([]fanout.Target, error) {
	home, _ := os.UserHomeDir()
	r, err := sshx.LoadResolver(d.cfg.Path("ssh.config"), localUser(), home)
	if err != nil {
		return nil, err
	}
	keys := map[string][]ssh.Signer{}
	loadKey := func(path string) ([]ssh.Signer, error) {
		if s, ok := keys[path]; ok {
			return s, nil
		}
		b, err := os.ReadFile(sshx.ExpandHome(path, home))
		if err != nil {
			return nil, err
		}
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		keys[path] = []ssh.Signer{s}
		return keys[path], nil
	}
	var out []fanout.Target
	for _, name := range hosts {
		// ansible_host/port/user/key with their aliases, templated.
		c, err := inv.Connection(name)
		if err != nil {
			return nil, usageError{err}
		}
		addr := c.Host
		if addr == "" {
			addr = name
		}
		dest, err := r.Resolve(addr)
		if err != nil {
			return nil, fmt.Errorf("host %s: %v", name, err)
		}
		port := dest.Port
		if c.Port != 0 {
			port = c.Port
		}
		user := c.User
		for _, u := range []string{o.user, d.getenv("ANSIBLE_REMOTE_USER"), r.User(addr), localUser()} {
			if user == "" {
				user = u
			}
		}
		t := fanout.Target{Name: name, Addr: net.JoinHostPort(dest.Host, strconv.Itoa(port)), User: user}
		keyFile := c.PrivateKeyFile
		if keyFile == "" {
			keyFile = o.privateKey
		}
		if keyFile != "" {
			if t.Signers, err = loadKey(keyFile); err != nil {
				return nil, fmt.Errorf("host %s: private key: %v", name, err)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// becomePassword asks once, on stderr, and reads the answer from the
// terminal (not echoed) or a line of stdin. An interrupt ends the wait and
// gives the terminal back as it was.
func (d *deps) becomePassword(ctx context.Context) (string, error) {
	fmt.Fprint(d.err, "BECOME password: ")
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
		if isTerm {
			b, err := term.ReadPassword(fd)
			got <- answer{string(b), err}
			return
		}
		line, err := bufio.NewReader(d.in).ReadString('\n')
		if err != nil && line == "" {
			got <- answer{"", errors.New("no become password on stdin")}
			return
		}
		got <- answer{strings.TrimRight(line, "\r\n"), nil}
	}()
	select {
	case a := <-got:
		if isTerm {
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
