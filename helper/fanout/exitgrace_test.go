package fanout

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// A host that gives its exit status and then neither closes the session
// nor the connection is let go after exitGrace, with that status, even
// with no command timeout.
func TestExitStatusThenStallIsLetGo(t *testing.T) {
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }}
	cfg.AddHostKey(ed25519Signer(t))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, chans, reqs, err := ssh.NewServerConn(c, cfg)
				if err != nil {
					return
				}
				go ssh.DiscardRequests(reqs)
				for nc := range chans {
					ch, creqs, _ := nc.Accept()
					go func() {
						for r := range creqs {
							r.Reply(r.Type == "exec", nil)
							if r.Type == "exec" {
								ch.Write([]byte("done\n"))
								ch.CloseWrite()
								ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{3}))
								<-hold // no channel close, no connection close
							}
						}
					}()
				}
			}()
		}
	}()
	o := clientOptions(t)
	start := time.Now()
	r := Run(context.Background(), []Target{{Name: "h", Addr: l.Addr().String(), User: "u"}}, o)[0]
	took := time.Since(start)
	if r.Status != Failed || r.Exit != 3 || string(r.Stdout) != "done\n" {
		t.Errorf("%s exit %d %q (%s)", r.Status, r.Exit, r.Stdout, r.Error)
	}
	if took < exitGrace || took > exitGrace+2*time.Second {
		t.Errorf("let go after %s, want about %s", took, exitGrace)
	}
}
