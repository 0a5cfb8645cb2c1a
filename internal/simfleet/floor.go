package simfleet

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"sync"
)

// The floor: what any SSH client must spend per host on this machine,
// whatever its code. A raw exchange with the same messages (count, order,
// sizes) as an SSH exec of `uptime` by a Go client against OpenSSH, and
// the cryptography the protocol cannot skip: two X25519 multiplications,
// one Ed25519 verification, the exchange hash, AES-GCM on each packet
// after NEWKEYS. No SSH parsing, no library: only the kernel's TCP work,
// the Go runtime and the mandatory crypto.

// step is one client message (0: none, the client only reads) and the
// bytes the server answers with (0: it answers nothing).
type step struct{ client, server int }

// sshExec is the exchange of an SSH exec, with message sizes as strace
// shows them for an x/crypto/ssh client against OpenSSH: version, KEXINIT,
// ECDH init, NEWKEYS, service request, publickey query, signed publickey
// request, channel open, exec, EOF, close. (x/crypto/ssh also tries the
// "none" method first: one round trip more than this.)
var sshExec = []step{
	{18, 32 + 1080}, // version → version + KEXINIT
	{1080, 0},       // KEXINIT
	{48, 468},       // ECDH init → ECDH reply + NEWKEYS
	{16, 0},         // NEWKEYS
	{52, 52 + 52},   // service request → accept + ext-info
	{148, 100},      // publickey query → PK_OK
	{228, 36},       // signed request → success
	{52, 52},        // channel open → confirmation
	{52, 188},       // exec → success, data, exit-status, EOF
	{36, 36},        // EOF → close
	{36, 0},         // close
}

// FloorServer answers the raw exchange on port at n addresses 127.1.x.y.
func FloorServer(n, port int) (*Fleet, error) {
	f := newFleet()
	if err := f.listen(n, port, func(_ int, c net.Conn) { floorServe(c) }); err != nil {
		return nil, err
	}
	return f, nil
}

func floorServe(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 2048)
	reply := make([]byte, 2048)
	for _, s := range sshExec {
		if _, err := io.ReadFull(c, buf[:s.client]); err != nil {
			return
		}
		if s.server > 0 {
			if _, err := c.Write(reply[:s.server]); err != nil {
				return
			}
		}
	}
}

// FloorClient runs the exchange and the mandatory crypto against every
// address, forks at a time, and returns how many completed.
func FloorClient(ctx context.Context, addrs []string, forks int, onDone func(addr string)) int {
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostPub := hostPriv.Public().(ed25519.PublicKey)
	hostSig := ed25519.Sign(hostPriv, make([]byte, 32))
	server, _ := ecdh.X25519().GenerateKey(rand.Reader)
	serverPub := server.PublicKey()
	sem := make(chan struct{}, forks)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for _, a := range addrs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if floorOne(ctx, a, serverPub, hostPub, hostSig) == nil {
				mu.Lock()
				done++
				onDone(a)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return done
}

func floorOne(ctx context.Context, addr string, peer *ecdh.PublicKey, hostPub ed25519.PublicKey, hostSig []byte) error {
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	out := make([]byte, 2048)
	in := make([]byte, 2048)
	var aead cipher.AEAD
	nonce := make([]byte, 12)
	h := sha256.New()
	for i, s := range sshExec {
		if aead != nil { // after NEWKEYS every packet is sealed
			aead.Seal(out[:0], nonce, out[:s.client-16], nil)
		}
		if _, err := c.Write(out[:s.client]); err != nil {
			return err
		}
		if s.server > 0 {
			if _, err := io.ReadFull(c, in[:s.server]); err != nil {
				return err
			}
		}
		h.Write(in[:min(s.server, 64)])
		switch i {
		case 2: // key exchange: our key pair, the shared secret, the host's signature
			priv, err := ecdh.X25519().GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			if _, err := priv.ECDH(peer); err != nil {
				return err
			}
			_ = ed25519.Verify(hostPub, make([]byte, 32), hostSig)
			h.Sum(nil)
			block, _ := aes.NewCipher(in[:16])
			aead, _ = cipher.NewGCM(block)
		case 4, 5, 6, 7, 8, 9: // received packets are opened too
			if aead != nil {
				sealed := aead.Seal(nil, nonce, in[:s.server/2], nil)
				_, _ = aead.Open(nil, nonce, sealed, nil)
			}
		}
	}
	return nil
}
