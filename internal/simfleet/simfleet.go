// Package simfleet is a simulated fleet for benchmarks: one Go SSH server
// answering on many loopback addresses without forking, so that a client's
// own cost shows. It negotiates what OpenSSH 9.2 would with a Go client
// (curve25519-sha256) and answers any command with an uptime-like line.
package simfleet

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Fleet is the running server.
type Fleet struct {
	Addrs     []string
	listeners []net.Listener
	cfg       *ssh.ServerConfig
	delay     time.Duration
	wg        sync.WaitGroup
}

// Start listens on port at n addresses 127.1.x.y and serves until Close.
// delay holds every packet the fleet sends, as a far network would (one
// way; packets are not pipelined). A command `sleep S` answers after S
// seconds, so that sessions stay open.
func Start(n, port int, delay time.Duration) (*Fleet, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ServerConfig{
		// Any key, but the client must still prove it holds it (the
		// signature is checked by the protocol).
		PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil },
		ServerVersion:     "SSH-2.0-OpenSSH_9.2p1 simfleet",
	}
	cfg.KeyExchanges = []string{"curve25519-sha256", "curve25519-sha256@libssh.org"}
	cfg.AddHostKey(signer)
	f := &Fleet{cfg: cfg, delay: delay}
	if err := f.listen(n, port, f.handle); err != nil {
		return nil, err
	}
	return f, nil
}

// Addr is the address of the fleet's host i on port.
func Addr(i, port int) string {
	return fmt.Sprintf("127.1.%d.%d:%d", 1+i/250, 1+i%250, port)
}

// listen accepts on port at n addresses, each connection handled in its
// own goroutine, until Close; on failure what was opened is closed.
func (f *Fleet) listen(n, port int, handle func(net.Conn)) error {
	for i := 0; i < n; i++ {
		addr := Addr(i, port)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			f.Close()
			return err
		}
		f.listeners = append(f.listeners, l)
		f.Addrs = append(f.Addrs, addr)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go handle(c)
			}
		}()
	}
	return nil
}

// Close stops listening.
func (f *Fleet) Close() {
	for _, l := range f.listeners {
		l.Close()
	}
	f.wg.Wait()
}

var start = time.Now()

type slowConn struct {
	net.Conn
	delay time.Duration
}

func (c slowConn) Write(p []byte) (int, error) {
	time.Sleep(c.delay)
	return c.Conn.Write(p)
}

func (f *Fleet) handle(c net.Conn) {
	defer c.Close()
	if f.delay > 0 {
		c = slowConn{c, f.delay}
	}
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	sc, chans, reqs, err := ssh.NewServerConn(c, f.cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			defer ch.Close()
			for r := range creqs {
				switch r.Type {
				case "exec", "shell":
					_ = r.Reply(true, nil)
					var cmd struct{ Command string }
					_ = ssh.Unmarshal(r.Payload, &cmd)
					if s, ok := strings.CutPrefix(cmd.Command, "sleep "); ok {
						if d, err := strconv.ParseFloat(s, 64); err == nil && d < 3600 {
							time.Sleep(time.Duration(d * float64(time.Second)))
						}
					}
					up := time.Since(start)
					fmt.Fprintf(ch, " %s up %d min,  1 user,  load average: 0.00, 0.00, 0.00\n", time.Now().Format("15:04:05"), int(up.Minutes()))
					_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
					return
				default:
					if r.WantReply {
						_ = r.Reply(r.Type == "env" || r.Type == "pty-req", nil)
					}
				}
			}
		}()
	}
}
