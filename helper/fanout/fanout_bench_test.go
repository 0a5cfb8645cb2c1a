package fanout

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ops-team/ops/internal/simfleet"
)

// BenchmarkFanout1000 runs `uptime` on 1000 simulated hosts (one in-process
// Go SSH server on 1000 loopback addresses) at concurrency 200. The server
// shares the process, so make bench is the measure of the client alone.
func BenchmarkFanout1000(b *testing.B) {
	targets, o := benchFleet(b, 2300)
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

// BenchmarkThreeCommands1000 runs three commands one after another on 1000
// simulated hosts (in-process, as BenchmarkFanout1000), at concurrency
// 200: three Runs, each dialling every host, against a Pool whose
// RunAll ×3 dials each host once. ms/host is for the three commands.
func BenchmarkThreeCommands1000(b *testing.B) {
	targets, o := benchFleet(b, 0)
	check := func(b *testing.B, results []Result) {
		for _, r := range results {
			if r.Status != OK {
				b.Fatalf("%s: %s %s", r.Host, r.Status, r.Error)
			}
		}
	}
	b.Run("run", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for range 3 {
				check(b, Run(context.Background(), targets, o))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*len(targets)), "ms/host")
	})
	b.Run("pool", func(b *testing.B) {
		var kept time.Duration // rounds 2 and 3: sessions on kept connections
		for i := 0; i < b.N; i++ {
			p := NewPool(o)
			for round := range 3 {
				start := time.Now()
				check(b, p.RunAll(context.Background(), targets, func(Target) Command { return Command{Line: "uptime"} }, nil))
				if round > 0 {
					kept += time.Since(start)
				}
			}
			p.Close()
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*len(targets)), "ms/host")
		b.ReportMetric(float64(kept.Microseconds())/1000/float64(2*b.N*len(targets)), "ms/host/kept-command")
	})
}

// benchFleet serves 1000 simulated hosts in process (on port, or a port
// each with 0) and gives their targets and the options to run uptime on
// them at concurrency 200.
func benchFleet(b *testing.B, port int) ([]Target, Options) {
	fleet, err := simfleet.Start(1000, port, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(fleet.Close)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	targets := make([]Target, len(fleet.Addrs))
	for i, a := range fleet.Addrs {
		targets[i] = Target{Name: a, Addr: a, User: "bench"}
	}
	return targets, Options{Forks: 200, Command: "uptime", HostKey: ssh.InsecureIgnoreHostKey(),
		Auth: func() []ssh.AuthMethod { return []ssh.AuthMethod{ssh.PublicKeys(signer)} }}
}
