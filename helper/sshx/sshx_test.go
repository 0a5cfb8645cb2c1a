package sshx

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kevinburke/ssh_config"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func TestParseDest(t *testing.T) {
	for _, tc := range []struct {
		in         string
		user, host string
		port       int
		bad        bool
	}{
		{in: "host", host: "host"},
		{in: "u@host", user: "u", host: "host"},
		{in: "u@host:2222", user: "u", host: "host", port: 2222},
		{in: "u@[::1]:22", user: "u", host: "::1", port: 22},
		{in: "ssh://u@h:2200", user: "u", host: "h", port: 2200},
		{in: "a@b@host", user: "a@b", host: "host"},
		{in: "", bad: true},
		{in: "@host", bad: true},
		{in: "host:99999", bad: true},
		{in: "ssh://h/path", bad: true},
		{in: "bad host", bad: true},
	} {
		u, h, p, err := ParseDest(tc.in)
		if tc.bad != (err != nil) || !tc.bad && (u != tc.user || h != tc.host || p != tc.port) {
			t.Errorf("ParseDest(%q) = %q %q %d %v", tc.in, u, h, p, err)
		}
	}
}

func TestResolveThroughSSHConfig(t *testing.T) {
	cfg, err := ssh_config.Decode(strings.NewReader(`
Host op
  HostName opserver.example.internal
  User alice
  Port 2222
  IdentityFile ~/.ssh/op_%r_%h
  ProxyJump bastion

Host bastion
  HostName 10.0.0.1
  User jump

Host *.dc
  User dcuser
`))
	if err != nil {
		t.Fatal(err)
	}
	r := &Resolver{Config: cfg, LocalUser: "me", Home: "/home/me"}
	for _, tc := range []struct {
		in   string
		want Dest
	}{
		{"op", Dest{Alias: "op", Host: "opserver.example.internal", Port: 2222, User: "alice",
			IdentityFiles: []string{"/home/me/.ssh/op_alice_opserver.example.internal"}, ProxyJump: []string{"bastion"}}},
		{"bob@op:22", Dest{Alias: "op", Host: "opserver.example.internal", Port: 22, User: "bob",
			IdentityFiles: []string{"/home/me/.ssh/op_bob_opserver.example.internal"}, ProxyJump: []string{"bastion"}}},
		{"web1.dc", Dest{Alias: "web1.dc", Host: "web1.dc", Port: 22, User: "dcuser"}},
		{"plain", Dest{Alias: "plain", Host: "plain", Port: 22, User: "me"}},
	} {
		got, err := r.Resolve(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got.Alias != tc.want.Alias || got.Host != tc.want.Host || got.Port != tc.want.Port || got.User != tc.want.User ||
			!slices.Equal(got.IdentityFiles, tc.want.IdentityFiles) || !slices.Equal(got.ProxyJump, tc.want.ProxyJump) {
			t.Errorf("Resolve(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	loop, _ := ssh_config.Decode(strings.NewReader("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n"))
	if _, err := (&Resolver{Config: loop}).Resolve("a"); err == nil {
		t.Error("a ProxyJump loop was accepted")
	}
	r2, err := LoadResolver(filepath.Join(t.TempDir(), "none"), "me", "/home/me")
	if err != nil || r2.Config != nil {
		t.Errorf("a missing config file: %v", err)
	}
}

func newKey(t *testing.T) (ssh.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := ssh.NewPublicKey(pub)
	return pk, priv
}

func TestHostKeys(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2222}
	key, _ := newKey(t)
	other, _ := newKey(t)
	path := filepath.Join(t.TempDir(), "ssh", "known_hosts")

	asked := 0
	answer := func(yes, ok bool) Prompter {
		return func(q string) (bool, bool) {
			asked++
			if !strings.Contains(q, ssh.FingerprintSHA256(key)) {
				t.Errorf("question without the fingerprint: %q", q)
			}
			return yes, ok
		}
	}
	var uk *UnknownKeyError
	if err := (&HostKeys{Path: path}).Callback()("127.0.0.1:2222", addr, key); !errors.As(err, &uk) {
		t.Fatalf("unknown key with nobody to ask: %v", err)
	}
	if err := (&HostKeys{Path: path, Prompt: answer(false, true)}).Callback()("127.0.0.1:2222", addr, key); !errors.As(err, &uk) {
		t.Fatalf("unknown key answered no: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("known_hosts written without a yes")
	}
	if err := (&HostKeys{Path: path, Prompt: answer(true, true)}).Callback()("127.0.0.1:2222", addr, key); err != nil {
		t.Fatalf("unknown key answered yes: %v", err)
	}
	if asked != 2 {
		t.Errorf("asked %d times", asked)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode %v", fi.Mode())
	}
	h := &HostKeys{Path: path, AcceptNew: true}
	if err := h.Callback()("127.0.0.1:2222", addr, key); err != nil {
		t.Errorf("recorded key: %v", err)
	}
	var ck *ChangedKeyError
	if err := h.Callback()("127.0.0.1:2222", addr, other); !errors.As(err, &ck) || !strings.Contains(err.Error(), path+":1") {
		t.Errorf("changed key with AcceptNew: %v", err)
	}
	if algs := h.Algorithms("127.0.0.1:2222"); !slices.Equal(algs, []string{ssh.KeyAlgoED25519}) {
		t.Errorf("algorithms %v", algs)
	}
	if err := h.Callback()("[127.0.0.1]:2200", addr, other); err != nil {
		t.Errorf("another port is another host: %v", err)
	}
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Errorf("known_hosts has %d lines:\n%s", n, b)
	}
	os.WriteFile(path, []byte("garbage line here\n"), 0o600)
	if err := h.Check(); err == nil {
		t.Error("a damaged known_hosts passed Check")
	}
}

func TestForwardedAgent(t *testing.T) {
	kr := agent.NewKeyring()
	k1, p1 := newKey(t)
	k2, p2 := newKey(t)
	kr.Add(agent.AddedKey{PrivateKey: p1, Comment: "one"})
	kr.Add(agent.AddedKey{PrivateKey: p2, Comment: "two"})
	up := kr.(agent.ExtendedAgent)

	all, err := NewForwardedAgent(up, nil)
	if err != nil {
		t.Fatal(err)
	}
	if keys, _ := all.List(); len(keys) != 2 {
		t.Errorf("unrestricted lists %d keys", len(keys))
	}
	for _, allow := range [][]string{{"one"}, {ssh.FingerprintSHA256(k1)}} {
		f, err := NewForwardedAgent(up, allow)
		if err != nil {
			t.Fatal(err)
		}
		keys, _ := f.List()
		if len(keys) != 1 || keys[0].Comment != "one" {
			t.Errorf("%v lists %v", allow, keys)
		}
		if _, err := f.Sign(k1, []byte("data")); err != nil {
			t.Errorf("%v: sign with the allowed key: %v", allow, err)
		}
		if _, err := f.Sign(k2, []byte("data")); err == nil {
			t.Errorf("%v: signed with a key that is not forwarded", allow)
		}
		if f.Signatures() != 1 {
			t.Errorf("%v: %d signatures counted", allow, f.Signatures())
		}
	}
	if _, err := NewForwardedAgent(up, []string{"nope"}); err == nil {
		t.Error("a restriction matching no key was accepted")
	}
	for name, err := range map[string]error{
		"add": all.Add(agent.AddedKey{PrivateKey: p1}), "remove": all.Remove(k1), "remove all": all.RemoveAll(),
		"lock": all.Lock([]byte("x")), "unlock": all.Unlock([]byte("x")),
	} {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if keys, _ := up.List(); len(keys) != 2 {
		t.Error("the upstream agent changed")
	}
}
