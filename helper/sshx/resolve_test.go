package sshx

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Include as ssh(1) follows it for a user config: relative to the home's
// .ssh (the Resolver's home, not the process's), ~, globs in lexical
// order, quoted names, nested, conditional inside a Host block, and the
// included file's Host lines ending with it.
func TestResolveFollowsInclude(t *testing.T) {
	home := t.TempDir()
	dot := filepath.Join(home, ".ssh")
	writeFile(t, filepath.Join(dot, "config"), `
Include conf.d/*.conf   "with space/extra"
Host web*
  Include ~/.ssh/web-only
Host *
  User fallback
`)
	writeFile(t, filepath.Join(dot, "conf.d", "10-dc.conf"), `
Host db1
  HostName 10.0.0.11
  Port 2201
  IdentityFile ~/.ssh/db_%r
  ProxyJump bastion
# nested
Include nested
`)
	writeFile(t, filepath.Join(dot, "conf.d", "20-later.conf"), `
Host db1
  HostName not-this-one
  IdentityFile ~/.ssh/second
Host bastion
  HostName 10.0.0.1
  User jumper
`)
	writeFile(t, filepath.Join(dot, "conf.d", "ignored.txt"), "Host db1\n  User nope\n")
	writeFile(t, filepath.Join(dot, "nested"), "Host db1\n  User dbuser\n")
	writeFile(t, filepath.Join(dot, "with space", "extra"), "Host cache\n  HostName 10.0.0.20\n")
	writeFile(t, filepath.Join(dot, "web-only"), "User webuser\nPort 2022\nHost zzz\n  User never\n")

	r, err := LoadResolver(filepath.Join(dot, "config"), "me", home)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   string
		want Dest
	}{
		{"db1", Dest{Alias: "db1", Host: "10.0.0.11", Port: 2201, User: "dbuser",
			IdentityFiles: []string{filepath.Join(dot, "db_dbuser"), filepath.Join(dot, "second")}, ProxyJump: []string{"bastion"}}},
		{"bastion", Dest{Alias: "bastion", Host: "10.0.0.1", Port: 22, User: "jumper"}},
		{"cache", Dest{Alias: "cache", Host: "10.0.0.20", Port: 22, User: "fallback"}},
		// web-only applies inside "Host web*" only; its "Host zzz" line
		// ends at its end, so "Host *" after it still applies.
		{"web1", Dest{Alias: "web1", Host: "web1", Port: 2022, User: "webuser"}},
		{"other", Dest{Alias: "other", Host: "other", Port: 22, User: "fallback"}},
	} {
		got, err := r.Resolve(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Resolve(%q) = %+v\nwant %+v", tc.in, got, tc.want)
		}
	}

	// A loop of Includes is an error, not a hang.
	writeFile(t, filepath.Join(dot, "loop"), "Include loop\n")
	if _, err := LoadResolver(filepath.Join(dot, "loop"), "me", home); err == nil || !strings.Contains(err.Error(), "Include") {
		t.Errorf("an Include loop: %v", err)
	}
	// A damaged included file is reported with where it was included.
	writeFile(t, filepath.Join(dot, "bad"), "Include broken\n")
	writeFile(t, filepath.Join(dot, "broken"), "Match foo\n")
	if _, err := LoadResolver(filepath.Join(dot, "bad"), "me", home); err == nil || !strings.Contains(err.Error(), "bad:1") {
		t.Errorf("a damaged included file: %v", err)
	}
	// A missing included file is no file, as in ssh(1).
	writeFile(t, filepath.Join(dot, "missing"), "Include nothing-here*\nHost x\n  User u\n")
	if r, err := LoadResolver(filepath.Join(dot, "missing"), "me", home); err != nil || r.User("x") != "u" {
		t.Errorf("Include of nothing: %v", err)
	}
}

// Command-line arguments win over the destination and the config; identity
// files add up, -i first; ProxyJump=none drops the config's jump.
func TestResolveArgs(t *testing.T) {
	home := t.TempDir()
	cfg := filepath.Join(home, ".ssh", "config")
	writeFile(t, cfg, `
Host db1
  HostName 10.0.0.11
  User dbuser
  Port 2201
  IdentityFile ~/.ssh/db
  ProxyJump bastion
  StrictHostKeyChecking yes
  UserKnownHostsFile ~/.ssh/dc_hosts /etc/ssh/dc_hosts
Host legacy
  ProxyCommand ssh -W %h:%p gw
`)
	r, err := LoadResolver(cfg, "me", home)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseSSHArgs("-l deploy -p 2222 -i ~/.ssh/k -o ProxyJump=b2 -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.ResolveArgs("other@db1", a)
	if err != nil {
		t.Fatal(err)
	}
	want := Dest{Alias: "db1", Host: "10.0.0.11", Port: 2222, User: "deploy",
		IdentityFiles: []string{filepath.Join(home, ".ssh", "k"), filepath.Join(home, ".ssh", "db")},
		ProxyJump:     []string{"b2"}, StrictHostKeyChecking: "accept-new", KnownHostsFiles: []string{"/dev/null"}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("with args: %+v\nwant %+v", d, want)
	}
	d, _ = r.ResolveArgs("db1", SSHArgs{NoJump: true, HostName: "10.9.9.9"})
	if d.ProxyJump != nil || d.Host != "10.9.9.9" || d.StrictHostKeyChecking != "yes" ||
		!reflect.DeepEqual(d.KnownHostsFiles, []string{filepath.Join(home, ".ssh", "dc_hosts"), "/etc/ssh/dc_hosts"}) {
		t.Errorf("config's host key settings, no jump: %+v", d)
	}
	if d, _ := r.Resolve("legacy"); d.ProxyCommand != "ssh -W %h:%p gw" {
		t.Errorf("ProxyCommand not reported: %+v", d)
	}
}

// Jumps lists the hosts in connection order: the first hop's own jumps
// before it, later hops as given (their own ProxyJump is not followed:
// ssh -J a,b reaches b through a).
func TestJumps(t *testing.T) {
	home := t.TempDir()
	cfg := filepath.Join(home, ".ssh", "config")
	writeFile(t, cfg, `
Host target
  ProxyJump inner,last
Host inner
  HostName 10.1.0.1
  User in
  ProxyJump outer
Host outer
  HostName 203.0.113.1
  Port 2222
Host last
  HostName 10.2.0.1
  ProxyJump ignored-for-a-later-hop
Host loop1
  ProxyJump loop2
Host loop2
  ProxyJump loop1
`)
	r, err := LoadResolver(cfg, "me", home)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Resolve("target")
	if err != nil {
		t.Fatal(err)
	}
	js, err := r.Jumps(d)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range js {
		got = append(got, j.String())
	}
	if want := []string{"me@203.0.113.1:2222", "in@10.1.0.1:22", "me@10.2.0.1:22"}; !reflect.DeepEqual(got, want) {
		t.Errorf("jumps %q, want %q", got, want)
	}
	a, _ := ParseSSHArgs("-J ops@gw:2200")
	d, _ = r.ResolveArgs("target", a)
	if js, _ := r.Jumps(d); len(js) != 1 || js[0].String() != "ops@gw:2200" {
		t.Errorf("-J: %+v", js)
	}
	if _, err := r.Resolve("loop1"); err == nil {
		t.Error("a ProxyJump loop was accepted")
	}
}

// The host key policies: yes refuses unknown hosts, accept-new records
// them, no accepts any key; extra files are read; one HostKeys per policy
// and files.
func TestHostKeyPolicies(t *testing.T) {
	dir := t.TempDir()
	key, _ := newKey(t)
	other, _ := newKey(t)
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}
	def := filepath.Join(dir, "known_hosts")
	extra := filepath.Join(dir, "extra")
	writeFile(t, extra, "[known.example]:2222 "+strings.TrimSpace(string(marshalAuthorized(other)))+"\n")
	p := &HostKeyPolicies{Path: def}

	strict, err := p.For("yes", nil)
	if err != nil {
		t.Fatal(err)
	}
	var uk *UnknownKeyError
	if err := strict.Callback()("new.example:22", addr, key); !errors.As(err, &uk) || !uk.Strict || !strings.Contains(err.Error(), "StrictHostKeyChecking is yes") {
		t.Errorf("yes, unknown host: %v", err)
	}
	acc, _ := p.For("", nil)
	if again, _ := p.For("accept-new", []string{def}); again != acc || !acc.AcceptNew {
		t.Error("the default policy is not one shared accept-new")
	}
	if err := acc.Callback()("new.example:22", addr, key); err != nil {
		t.Errorf("accept-new, unknown host: %v", err)
	}
	// Recorded this run: known, and a different key is a changed one,
	// without reading the file again.
	if err := acc.Callback()("new.example:22", addr, key); err != nil {
		t.Errorf("accept-new, recorded host: %v", err)
	}
	var ck *ChangedKeyError
	if err := acc.Callback()("new.example:22", addr, other); !errors.As(err, &ck) {
		t.Errorf("accept-new, changed key: %v", err)
	}
	if algs := acc.Algorithms("new.example:22"); !reflect.DeepEqual(algs, []string{"ssh-ed25519"}) {
		t.Errorf("algorithms of a host recorded this run: %v", algs)
	}
	off, _ := p.For("no", nil)
	if err := off.Callback()("new.example:22", addr, other); err != nil || off.Algorithms("new.example:22") != nil {
		t.Errorf("no: %v", err)
	}
	both, err := p.For("yes", []string{filepath.Join(dir, "none-yet"), extra})
	if err != nil {
		t.Fatal(err)
	}
	if err := both.Callback()("known.example:2222", addr, other); err != nil {
		t.Errorf("a key in the second file: %v", err)
	}
	if _, err := p.For("sometimes", nil); err == nil {
		t.Error("a bad StrictHostKeyChecking was accepted")
	}
	writeFile(t, filepath.Join(dir, "damaged"), "garbage\n")
	if _, err := p.For("yes", []string{filepath.Join(dir, "damaged")}); err == nil {
		t.Error("a damaged known_hosts was accepted")
	}
}

func marshalAuthorized(k ssh.PublicKey) []byte { return ssh.MarshalAuthorizedKey(k) }
