package sshx

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// AgentPool spreads signatures over several connections to one agent, so
// that a slow (forwarded) agent does not make every handshake wait in one
// queue; each connection lists its keys once, then only signs. Every call
// to the agent is bounded: an agent that stops answering (a forwarded one
// whose link stalled) fails the calls in flight after the timeout, and its
// connection is not used again.
type AgentPool struct {
	sock    string
	timeout time.Duration
	conns   []*boundedAgent // the handshakes' turn: conns[:len(signers)]; then forwarding ones
	signers []func() ([]ssh.Signer, error)
	next    atomic.Uint64
}

// DialAgentPool opens n connections to the agent at sock; each call waits
// at most timeout for the agent.
func DialAgentPool(sock string, n int, timeout time.Duration) (*AgentPool, error) {
	p := &AgentPool{}
	p.sock, p.timeout = sock, timeout
	for i := 0; i < max(n, 1); i++ {
		c, err := net.DialTimeout("unix", sock, timeout)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("SSH agent at %s: %v", sock, UnwrapNetError(err))
		}
		b := newBoundedAgent(c, timeout)
		p.conns = append(p.conns, b)
		p.signers = append(p.signers, sync.OnceValues(b.Signers))
	}
	return p, nil
}

// Auth is the public-key auth of one connection, in turn, passing over
// connections that broke.
func (p *AgentPool) Auth() []ssh.AuthMethod {
	if k := p.pick(); k >= 0 {
		return []ssh.AuthMethod{ssh.PublicKeysCallback(p.signers[k])}
	}
	return []ssh.AuthMethod{ssh.PublicKeysCallback(func() ([]ssh.Signer, error) { return nil, errAgentTimeout })}
}

// pick is the next whole connection's index, or -1 when all broke.
func (p *AgentPool) pick() int {
	n := uint64(len(p.signers))
	start := p.next.Add(1)
	for i := uint64(0); i < n; i++ {
		if k := (start + i) % n; !p.conns[k].isBroken() {
			return int(k)
		}
	}
	return -1
}

// Agent is the pool's first connection.
func (p *AgentPool) Agent() agent.ExtendedAgent { return p.conns[0] }

// Forwarding opens a connection of its own for the agent forwarded to
// targets, so that what a target asks of it never breaks the connections
// the handshakes sign with; a request to sign more than MaxForwardedData
// is refused (OpenSSH's agent drops the connection over 256 KiB).
func (p *AgentPool) Forwarding() (agent.ExtendedAgent, error) {
	c, err := net.DialTimeout("unix", p.sock, p.timeout)
	if err != nil {
		return nil, fmt.Errorf("SSH agent at %s: %v", p.sock, UnwrapNetError(err))
	}
	b := newBoundedAgent(c, p.timeout)
	b.maxData = MaxForwardedData
	p.conns = append(p.conns, b) // closed with the pool; beyond the signers, never in Auth's turn
	return b, nil
}

// MaxForwardedData is the most a target may ask the forwarded agent to sign.
const MaxForwardedData = 64 << 10

// Close closes every connection.
func (p *AgentPool) Close() {
	for _, c := range p.conns {
		c.conn.Close()
	}
}

// errAgentTimeout ends a call to an agent that did not answer in time.
var errAgentTimeout = errors.New("the SSH agent did not answer in time")

// boundedAgent is an agent connection whose every call, the wait for its
// turn included, has a deadline; a connection that failed is not used
// again.
type boundedAgent struct {
	turn    chan struct{} // a lock whose wait can time out
	conn    net.Conn
	client  agent.ExtendedAgent
	timeout time.Duration
	maxData int // 0: no limit
	broken  atomic.Bool
}

func newBoundedAgent(c net.Conn, timeout time.Duration) *boundedAgent {
	return &boundedAgent{turn: make(chan struct{}, 1), conn: c, client: agent.NewClient(c), timeout: timeout}
}

func (b *boundedAgent) isBroken() bool { return b.broken.Load() }

func (b *boundedAgent) call(fn func() error) error {
	deadline := time.Now().Add(b.timeout)
	wait := time.NewTimer(b.timeout)
	defer wait.Stop()
	select {
	case b.turn <- struct{}{}:
	case <-wait.C:
		return errAgentTimeout
	}
	defer func() { <-b.turn }()
	if b.broken.Load() {
		return errAgentTimeout
	}
	_ = b.conn.SetDeadline(deadline)
	err := fn()
	// The agent client does not wrap the connection's error: a failure at
	// the deadline is the deadline, one it calls a client error is the
	// connection's. Half an answer may be left on it: never reuse it.
	if err != nil && (!time.Now().Before(deadline) || strings.HasPrefix(err.Error(), "agent: client error")) {
		b.broken.Store(true)
		b.conn.Close()
		if !time.Now().Before(deadline) {
			return errAgentTimeout
		}
		return err
	}
	_ = b.conn.SetDeadline(time.Time{})
	return err
}

func (b *boundedAgent) List() (keys []*agent.Key, err error) {
	err = b.call(func() error { keys, err = b.client.List(); return err })
	return keys, err
}

func (b *boundedAgent) Sign(key ssh.PublicKey, data []byte) (s *ssh.Signature, err error) {
	if b.maxData > 0 && len(data) > b.maxData {
		return nil, fmt.Errorf("refused by ops: %d bytes to sign (at most %d)", len(data), b.maxData)
	}
	err = b.call(func() error { s, err = b.client.Sign(key, data); return err })
	return s, err
}

func (b *boundedAgent) SignWithFlags(key ssh.PublicKey, data []byte, flags agent.SignatureFlags) (s *ssh.Signature, err error) {
	if b.maxData > 0 && len(data) > b.maxData {
		return nil, fmt.Errorf("refused by ops: %d bytes to sign (at most %d)", len(data), b.maxData)
	}
	err = b.call(func() error { s, err = b.client.SignWithFlags(key, data, flags); return err })
	return s, err
}

func (b *boundedAgent) Add(key agent.AddedKey) error {
	return b.call(func() error { return b.client.Add(key) })
}

func (b *boundedAgent) Remove(key ssh.PublicKey) error {
	return b.call(func() error { return b.client.Remove(key) })
}

func (b *boundedAgent) RemoveAll() error { return b.call(b.client.RemoveAll) }

func (b *boundedAgent) Lock(passphrase []byte) error {
	return b.call(func() error { return b.client.Lock(passphrase) })
}

func (b *boundedAgent) Unlock(passphrase []byte) error {
	return b.call(func() error { return b.client.Unlock(passphrase) })
}

func (b *boundedAgent) Extension(t string, contents []byte) (out []byte, err error) {
	err = b.call(func() error { out, err = b.client.Extension(t, contents); return err })
	return out, err
}

// Signers lists the agent's keys as signers whose signatures go through
// the bound (the agent client's own signers would not).
func (b *boundedAgent) Signers() ([]ssh.Signer, error) {
	keys, err := b.List()
	if err != nil {
		return nil, err
	}
	out := make([]ssh.Signer, 0, len(keys))
	for _, k := range keys {
		pk, err := ssh.ParsePublicKey(k.Blob)
		if err != nil {
			continue
		}
		out = append(out, &agentSigner{b: b, pub: pk})
	}
	return out, nil
}

// agentSigner signs with one agent key, with the RSA SHA-2 flags that an
// algorithm asks for (as the agent client's own signers do).
type agentSigner struct {
	b   *boundedAgent
	pub ssh.PublicKey
}

func (s *agentSigner) PublicKey() ssh.PublicKey { return s.pub }

func (s *agentSigner) Sign(_ io.Reader, data []byte) (*ssh.Signature, error) {
	return s.b.Sign(s.pub, data)
}

func (s *agentSigner) SignWithAlgorithm(_ io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	underlying := s.pub.Type()
	if c, ok := s.pub.(*ssh.Certificate); ok {
		underlying = c.Key.Type()
	}
	switch algorithm {
	case "", underlying:
		return s.b.Sign(s.pub, data)
	case ssh.KeyAlgoRSASHA256:
		return s.b.SignWithFlags(s.pub, data, agent.SignatureFlagRsaSha256)
	case ssh.KeyAlgoRSASHA512:
		return s.b.SignWithFlags(s.pub, data, agent.SignatureFlagRsaSha512)
	}
	return nil, fmt.Errorf("agent: unsupported algorithm %q", algorithm)
}
