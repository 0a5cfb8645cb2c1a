package fanout

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/ops-team/ops/internal/simfleet"
)

// BenchmarkFanout1000 runs `uptime` on 1000 simulated hosts (one in-process
// Go SSH server on 1000 loopback addresses) at concurrency 200. The server
// shares the process, so make bench is the measure of the client alone.
func BenchmarkFanout1000(b *testing.B) {
	fleet, err := simfleet.Start(1000, 2300, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer fleet.Close()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	targets := make([]Target, len(fleet.Addrs))
	for i, a := range fleet.Addrs {
		targets[i] = Target{Name: a, Addr: a, User: "bench"}
	}
	o := Options{Forks: 200, Command: "uptime", HostKey: ssh.InsecureIgnoreHostKey(),
		Auth: func() []ssh.AuthMethod { return []ssh.AuthMethod{ssh.PublicKeys(signer)} }}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, r := range Run(context.Background(), targets, o) {
			if r.Status != OK {
				b.Fatalf("%s: %s %s", r.Host, r.Status, r.Error)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*len(targets)), "ms/host")
}
