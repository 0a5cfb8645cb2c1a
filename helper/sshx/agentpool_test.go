package sshx

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func listenAgent(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return sock
}

// The pool's signers sign through the bound with the algorithm asked for
// (RSA SHA-2 included), and the signatures verify.
func TestAgentPoolSigns(t *testing.T) {
	kr := agent.NewKeyring()
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	kr.Add(agent.AddedKey{PrivateKey: ed})
	kr.Add(agent.AddedKey{PrivateKey: rk})
	sock := listenAgent(t, func(c net.Conn) { agent.ServeAgent(kr, c); c.Close() })
	p, err := DialAgentPool(sock, 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	signers, err := p.conns[0].Signers()
	if err != nil || len(signers) != 2 {
		t.Fatalf("%d signers, %v", len(signers), err)
	}
	data := []byte("session data")
	for _, s := range signers {
		algos := []string{s.PublicKey().Type()}
		if s.PublicKey().Type() == ssh.KeyAlgoRSA {
			algos = append(algos, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512)
		}
		for _, a := range algos {
			sig, err := s.(ssh.AlgorithmSigner).SignWithAlgorithm(rand.Reader, data, a)
			if err != nil {
				t.Fatalf("%s: %v", a, err)
			}
			if sig.Format != a || s.PublicKey().Verify(data, sig) != nil {
				t.Errorf("%s: signature %s does not verify", a, sig.Format)
			}
		}
	}
}

// An agent that stops answering fails the call after the bound instead of
// holding the handshake (and with it the run) for ever.
func TestAgentPoolBoundsAStalledAgent(t *testing.T) {
	sock := listenAgent(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	p, err := DialAgentPool(sock, 1, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	_, err = p.Agent().List()
	if err != errAgentTimeout || time.Since(start) > time.Second {
		t.Errorf("List: %v after %s", err, time.Since(start))
	}
	// The connection is not used again: the next call fails at once.
	start = time.Now()
	if _, err := p.Agent().List(); err != errAgentTimeout || time.Since(start) > 100*time.Millisecond {
		t.Errorf("second List: %v after %s", err, time.Since(start))
	}
}

// What a target asks of the forwarded agent goes through a connection of
// its own and is capped: an oversized request (which makes OpenSSH's agent
// drop the connection) is refused, and the handshakes' connections stay
// whole; a connection that broke is passed over.
func TestAgentPoolForwardingIsApart(t *testing.T) {
	kr := agent.NewKeyring()
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	kr.Add(agent.AddedKey{PrivateKey: ed})
	sock := listenAgent(t, func(c net.Conn) { agent.ServeAgent(kr, c); c.Close() })
	p, err := DialAgentPool(sock, 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fwd, err := p.Forwarding()
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := fwd.List()
	if len(keys) != 1 {
		t.Fatalf("%d keys", len(keys))
	}
	if _, err := fwd.Sign(keys[0], make([]byte, MaxForwardedData+1)); err == nil {
		t.Error("an oversized request was signed")
	}
	if _, err := fwd.Sign(keys[0], []byte("small")); err != nil {
		t.Errorf("a small request after the refusal: %v", err)
	}
	// A broken handshake connection is passed over.
	p.conns[0].broken.Store(true)
	for i := 0; i < 4; i++ {
		if k := p.pick(); k != 1 {
			t.Fatalf("picked connection %d", k)
		}
	}
	p.conns[1].broken.Store(true)
	if k := p.pick(); k != -1 {
		t.Errorf("all broken: picked %d", k)
	}
}
