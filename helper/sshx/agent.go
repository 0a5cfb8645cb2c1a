package sshx

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// ErrReadOnly answers every request that would change the forwarded agent.
var ErrReadOnly = errors.New("refused by ops: the forwarded agent is read-only")

// ForwardedAgent is what the remote side sees of the local agent: only the
// allowed keys, no add/remove/lock, and a count of signatures made.
type ForwardedAgent struct {
	upstream agent.ExtendedAgent
	allow    []string // SHA256 fingerprints or comments; empty: all
	signs    atomic.Int64
}

// NewForwardedAgent wraps upstream. With allow set, at least one of the
// upstream's keys must match, or it is an error.
func NewForwardedAgent(upstream agent.ExtendedAgent, allow []string) (*ForwardedAgent, error) {
	f := &ForwardedAgent{upstream: upstream, allow: allow}
	if len(allow) > 0 {
		keys, err := f.List()
		if err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("no key in the agent matches %v", allow)
		}
	}
	return f, nil
}

// Signatures is how many signatures the remote side obtained.
func (f *ForwardedAgent) Signatures() int64 { return f.signs.Load() }

func (f *ForwardedAgent) allowed(blob []byte, comment string) bool {
	if len(f.allow) == 0 {
		return true
	}
	pk, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return false
	}
	fp := ssh.FingerprintSHA256(pk)
	return slices.ContainsFunc(f.allow, func(a string) bool { return a == fp || a == comment })
}

func (f *ForwardedAgent) List() ([]*agent.Key, error) {
	keys, err := f.upstream.List()
	if err != nil {
		return nil, err
	}
	var out []*agent.Key
	for _, k := range keys {
		if f.allowed(k.Blob, k.Comment) {
			out = append(out, k)
		}
	}
	return out, nil
}

func (f *ForwardedAgent) check(key ssh.PublicKey) error {
	keys, err := f.List()
	if err != nil {
		return err
	}
	for _, k := range keys {
		if string(k.Blob) == string(key.Marshal()) {
			return nil
		}
	}
	return errors.New("refused by ops: that key is not forwarded")
}

func (f *ForwardedAgent) Sign(key ssh.PublicKey, data []byte) (*ssh.Signature, error) {
	return f.SignWithFlags(key, data, 0)
}

func (f *ForwardedAgent) SignWithFlags(key ssh.PublicKey, data []byte, flags agent.SignatureFlags) (*ssh.Signature, error) {
	if err := f.check(key); err != nil {
		return nil, err
	}
	sig, err := f.upstream.SignWithFlags(key, data, flags)
	if err == nil {
		f.signs.Add(1)
	}
	return sig, err
}

func (f *ForwardedAgent) Add(agent.AddedKey) error       { return ErrReadOnly }
func (f *ForwardedAgent) Remove(ssh.PublicKey) error     { return ErrReadOnly }
func (f *ForwardedAgent) RemoveAll() error               { return ErrReadOnly }
func (f *ForwardedAgent) Lock([]byte) error              { return ErrReadOnly }
func (f *ForwardedAgent) Unlock([]byte) error            { return ErrReadOnly }
func (f *ForwardedAgent) Signers() ([]ssh.Signer, error) { return nil, ErrReadOnly }
func (f *ForwardedAgent) Extension(string, []byte) ([]byte, error) {
	return nil, agent.ErrExtensionUnsupported
}

// Serve answers agent requests on l until it is closed.
func (f *ForwardedAgent) Serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			_ = agent.ServeAgent(f, c)
		}()
	}
}

// ServeOnServer serves the agent on a unix socket that the server opens at
// path for this connection (OpenSSH's streamlocal forwarding): a container
// on the server can mount it. stop closes it and removes the socket file.
func (c *Client) ServeOnServer(f *ForwardedAgent, path string) (stop func(), err error) {
	l, err := c.ListenUnix(path)
	if err != nil {
		return nil, fmt.Errorf("open the agent socket %s on the server: %w", path, err)
	}
	go func() { _ = f.Serve(l) }()
	return func() {
		l.Close()
		if s, err := c.NewSession(); err == nil {
			_ = s.Run("rm -f " + Quote(path))
			s.Close()
		}
	}, nil
}
