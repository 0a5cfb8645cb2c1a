package sshx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Prompter asks the user a yes/no question; ok=false means nobody can answer.
type Prompter func(question string) (yes bool, ok bool)

// HostKeys checks host keys against a known_hosts file, as OpenSSH's
// StrictHostKeyChecking: accept-new (AcceptNew), ask (Prompt), yes
// (Strict, or neither) or no (Insecure). A changed key is always refused
// but with Insecure.
type HostKeys struct {
	Path      string   // new keys are recorded here
	More      []string // further known_hosts files read (UserKnownHostsFile's others)
	AcceptNew bool     // accept and record unknown keys without asking
	Prompt    Prompter // asked for unknown keys when AcceptNew is false
	Strict    bool     // StrictHostKeyChecking=yes: unknown keys refused, never asked
	Insecure  bool     // StrictHostKeyChecking=no as Ansible's host_key_checking=False: any key, nothing read or recorded
	Log       io.Writer

	mu     sync.Mutex
	cached ssh.HostKeyCallback        // the parsed files
	added  map[string][]ssh.PublicKey // keys recorded since, by knownhosts.Normalize(host)
}

// ChangedKeyError is a host key that differs from the recorded one.
type ChangedKeyError struct {
	Host        string
	Fingerprint string
	Known       []knownhosts.KnownKey
}

func (e *ChangedKeyError) Error() string {
	var lines []string
	for _, k := range e.Known {
		lines = append(lines, fmt.Sprintf("%s:%d", k.Filename, k.Line))
	}
	return fmt.Sprintf("HOST KEY CHANGED for %s: it now presents %s, which differs from %s; refusing to connect (if the change is expected, remove that line)",
		e.Host, e.Fingerprint, strings.Join(lines, ", "))
}

// UnknownKeyError is a host key that is not recorded and was not accepted.
type UnknownKeyError struct {
	Host, Type, Fingerprint string
	Strict                  bool // refused by StrictHostKeyChecking=yes
}

func (e *UnknownKeyError) Error() string {
	if e.Strict {
		return fmt.Sprintf("host %s is not in known_hosts (its %s key is %s) and StrictHostKeyChecking is yes", e.Host, e.Type, e.Fingerprint)
	}
	return fmt.Sprintf("host %s is not in known_hosts (its %s key is %s); confirm at a terminal or pass --accept-new", e.Host, e.Type, e.Fingerprint)
}

func (h *HostKeys) load() (ssh.HostKeyCallback, error) {
	var files []string
	for _, f := range append([]string{h.Path}, h.More...) {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return func(string, net.Addr, ssh.PublicKey) error {
			return &knownhosts.KeyError{}
		}, nil
	}
	return knownhosts.New(files...)
}

// loaded is the parsed files, read once until a key is added; h.mu held.
func (h *HostKeys) loaded() (ssh.HostKeyCallback, error) {
	if h.cached == nil {
		cb, err := h.load()
		if err != nil {
			return nil, fmt.Errorf("known_hosts %s: %w", strings.Join(append([]string{h.Path}, h.More...), " "), err)
		}
		h.cached = cb
	}
	return h.cached, nil
}

// Check reads the known_hosts files (again), so that a damaged one is
// reported as such before any connection is made.
func (h *HostKeys) Check() error {
	if h.Insecure {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cached, h.added = nil, nil
	_, err := h.loaded()
	return err
}

// Algorithms lists the host key algorithms to ask for: those of the keys
// recorded for the host, so that a server with several keys presents one we
// know (as OpenSSH orders them: a host recorded as ed25519 that also has an
// ECDSA key, which x/crypto/ssh would prefer, is asked for its ed25519
// one). Empty means any. addr is what the callback is given (host:port).
// Safe for concurrent use; the file is read once.
func (h *HostKeys) Algorithms(addr string) []string {
	if h.Insecure {
		return nil
	}
	h.mu.Lock()
	cb, err := h.loaded()
	h.mu.Unlock()
	if err != nil {
		return nil
	}
	var keys []ssh.PublicKey
	var ke *knownhosts.KeyError
	if err := cb(addr, &net.TCPAddr{}, probeKey{}); errors.As(err, &ke) {
		for _, k := range ke.Want {
			keys = append(keys, k.Key)
		}
	}
	h.mu.Lock()
	keys = append(keys, h.added[knownhosts.Normalize(addr)]...)
	h.mu.Unlock()
	var algs []string
	for _, k := range keys {
		switch t := k.Type(); t {
		case ssh.KeyAlgoRSA:
			algs = append(algs, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algs = append(algs, t)
		}
	}
	var out []string
	for _, a := range algs {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// probeKey is a key no known_hosts holds, used to list the recorded ones.
type probeKey struct{}

func (probeKey) Type() string                        { return "ops-probe" }
func (probeKey) Marshal() []byte                     { return []byte("ops-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe") }

// Callback returns the ssh.HostKeyCallback. Safe for concurrent use.
func (h *HostKeys) Callback() ssh.HostKeyCallback {
	if h.Insecure {
		return ssh.InsecureIgnoreHostKey()
	}
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		cb, err := h.loaded()
		if err != nil {
			return err
		}
		err = cb(hostname, remote, key)
		var ke *knownhosts.KeyError
		if err == nil || !errors.As(err, &ke) {
			return err
		}
		fp := ssh.FingerprintSHA256(key)
		known := ke.Want
		if len(known) == 0 {
			// Recorded during this run (the file is not read again).
			for _, k := range h.added[knownhosts.Normalize(hostname)] {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return nil
				}
				known = append(known, knownhosts.KnownKey{Key: k, Filename: h.Path})
			}
		}
		if len(known) > 0 {
			return &ChangedKeyError{Host: hostname, Fingerprint: fp, Known: known}
		}
		if h.Strict {
			return &UnknownKeyError{Host: hostname, Type: keyName(key), Fingerprint: fp, Strict: true}
		}
		if !h.AcceptNew {
			q := fmt.Sprintf("The authenticity of host '%s' can't be established.\n%s key fingerprint is %s.\nAre you sure you want to continue connecting (yes/no)? ",
				hostname, keyName(key), fp)
			yes, ok := false, false
			if h.Prompt != nil {
				yes, ok = h.Prompt(q)
			}
			if !ok || !yes {
				return &UnknownKeyError{Host: hostname, Type: keyName(key), Fingerprint: fp}
			}
		}
		if err := h.add(hostname, key); err != nil {
			return fmt.Errorf("recording the host key of %s: %w", hostname, err)
		}
		if h.added == nil {
			h.added = map[string][]ssh.PublicKey{}
		}
		n := knownhosts.Normalize(hostname)
		h.added[n] = append(h.added[n], key)
		if h.Log != nil {
			fmt.Fprintf(h.Log, "ops: added %s (%s %s) to %s\n", hostname, keyName(key), fp, h.Path)
		}
		return nil
	}
}

func keyName(k ssh.PublicKey) string {
	return strings.ToUpper(strings.TrimPrefix(strings.TrimPrefix(k.Type(), "ssh-"), "ecdsa-sha2-"))
}

func (h *HostKeys) add(hostname string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(h.Path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(h.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, werr := fmt.Fprintln(f, knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

// HostKeyPolicies hands out one HostKeys per known_hosts files and
// StrictHostKeyChecking value, so that the targets that share them share
// one parsed file. Not safe for concurrent use (build targets in one
// goroutine); the HostKeys it gives are.
type HostKeyPolicies struct {
	Path    string // known_hosts when a target names none (ssh.known_hosts)
	Default string // StrictHostKeyChecking when a target says none ("accept-new" if empty)
	Log     io.Writer

	m map[string]*HostKeys
}

// For gives the HostKeys of a StrictHostKeyChecking value ("" the default;
// "ask" is "yes": nobody answers) and known_hosts files (nil the default).
// Every file it gives has been read (Check): a damaged one is an error.
func (p *HostKeyPolicies) For(strict string, files []string) (*HostKeys, error) {
	if strict == "" {
		strict = p.Default
	}
	if strict == "" {
		strict = "accept-new"
	}
	strict, err := NormaliseStrict(strict)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		files = []string{p.Path}
	}
	key := strict + "\x00" + strings.Join(files, "\x00")
	if h, ok := p.m[key]; ok {
		return h, nil
	}
	h := &HostKeys{Path: files[0], More: files[1:], Log: p.Log}
	switch strict {
	case "no":
		h.Insecure = true
	case "accept-new":
		h.AcceptNew = true
	default:
		h.Strict = true
	}
	if err := h.Check(); err != nil {
		return nil, err
	}
	if p.m == nil {
		p.m = map[string]*HostKeys{}
	}
	p.m[key] = h
	return h, nil
}
