package sshx

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Prompter asks the user a yes/no question; ok=false means nobody can answer.
type Prompter func(question string) (yes bool, ok bool)

// HostKeys checks host keys against a known_hosts file.
type HostKeys struct {
	Path      string
	AcceptNew bool     // accept and record unknown keys without asking
	Prompt    Prompter // asked for unknown keys when AcceptNew is false
	Log       io.Writer

	mu     sync.Mutex
	cached ssh.HostKeyCallback // the parsed file, until a key is added
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
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("host %s is not in known_hosts (its %s key is %s); confirm at a terminal or pass --accept-new", e.Host, e.Type, e.Fingerprint)
}

func (h *HostKeys) load() (ssh.HostKeyCallback, error) {
	if _, err := os.Stat(h.Path); errors.Is(err, os.ErrNotExist) {
		return func(string, net.Addr, ssh.PublicKey) error {
			return &knownhosts.KeyError{}
		}, nil
	}
	return knownhosts.New(h.Path)
}

// Check reads the known_hosts file, so that a damaged one is reported as
// such before any connection is made.
func (h *HostKeys) Check() error {
	if _, err := h.load(); err != nil {
		return fmt.Errorf("known_hosts %s: %w", h.Path, err)
	}
	return nil
}

// Algorithms lists the host key algorithms to ask for: those of the keys
// recorded for the host, so that a server with several keys presents one we
// know (as OpenSSH orders them). Empty means any.
func (h *HostKeys) Algorithms(addr string) []string {
	cb, err := h.load()
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if err := cb(addr, &net.TCPAddr{}, probeKey{}); !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil
	}
	var algs []string
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algs = append(algs, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algs = append(algs, t)
		}
	}
	return algs
}

// probeKey is a key no known_hosts holds, used to list the recorded ones.
type probeKey struct{}

func (probeKey) Type() string                        { return "ops-probe" }
func (probeKey) Marshal() []byte                     { return []byte("ops-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe") }

// Callback returns the ssh.HostKeyCallback.
func (h *HostKeys) Callback() ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.cached == nil {
			cb, err := h.load()
			if err != nil {
				return fmt.Errorf("known_hosts %s: %w", h.Path, err)
			}
			h.cached = cb
		}
		cb := h.cached
		err := cb(hostname, remote, key)
		var ke *knownhosts.KeyError
		if err == nil || !errors.As(err, &ke) {
			return err
		}
		fp := ssh.FingerprintSHA256(key)
		if len(ke.Want) > 0 {
			return &ChangedKeyError{Host: hostname, Fingerprint: fp, Known: ke.Want}
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
		h.cached = nil
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
