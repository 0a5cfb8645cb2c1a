package fanout

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ops-team/ops/internal/simfleet"
)

// hostileFleet starts one host per fault (in simfleet's order) and one
// behaving host last, each on its own loopback port.
func hostileFleet(t *testing.T) ([]Target, map[string]simfleet.Fault) {
	t.Helper()
	faults := map[int]simfleet.Fault{}
	for i, f := range simfleet.Faults() {
		faults[i] = f
	}
	fleet, err := simfleet.StartFaults(len(faults)+1, 0, 0, faults)
	if err != nil {
		t.Skip("simulated fleet:", err)
	}
	t.Cleanup(fleet.Close)
	byHost := map[string]simfleet.Fault{}
	var targets []Target
	for i, a := range fleet.Addrs {
		name := "good"
		if f, ok := faults[i]; ok {
			name = string(f)
			byHost[name] = f
		}
		targets = append(targets, Target{Name: name, Addr: a, User: "u"})
	}
	return targets, byHost
}

func testOptions() Options {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	return Options{Forks: 20, Command: "uptime", HostKey: ssh.InsecureIgnoreHostKey(),
		Auth: func() []ssh.AuthMethod { return []ssh.AuthMethod{ssh.PublicKeys(signer)} }}
}

func byName(results []Result) map[string]Result {
	m := map[string]Result{}
	for _, r := range results {
		m[r.Host] = r
	}
	return m
}

// Every hostile host ends within its bound and in its class: stalls before
// the exec reply are unreachable after the connect timeout, stalls after it
// time out at the command timeout, a dropped connection or a signal fails.
func TestHostileHostsAreBoundedAndClassified(t *testing.T) {
	targets, _ := hostileFleet(t)
	o := testOptions()
	o.ConnectTimeout, o.CommandTimeout, o.Collect = 1*time.Second, 2*time.Second, true
	start := time.Now()
	got := byName(Run(context.Background(), targets, o))
	took := time.Since(start)
	checkHostile(t, got)
	// Connect phase ≤ 2 × 1 s, command 2 s: all in parallel.
	if took > 6*time.Second {
		t.Errorf("the run took %s", took)
	}
}

// checkHostile checks the results of hostileFleet's hosts with a connect
// timeout of 1 s and a command timeout of 2 s, output collected.
func checkHostile(t *testing.T, got map[string]Result) {
	t.Helper()
	want := map[string]struct {
		status Status
		error  string
	}{
		"good":            {OK, ""},
		"stall-kex":       {Unreachable, "no SSH handshake within 1s"},
		"garbage-version": {Unreachable, "version"},
		"refuse-auth":     {Unreachable, "unable to authenticate"},
		"stall-open":      {Unreachable, "no answer to the session open within 1s"},
		"stall-exec":      {Unreachable, "no answer to the exec request within 1s"},
		"stall-run":       {TimedOut, "command timed out after 2s"},
		"drip":            {TimedOut, "command timed out after 2s"},
		"flood":           {TimedOut, "command timed out after 2s"},
		"drop":            {Failed, "connection lost"},
		"signal":          {Failed, "killed by SIGKILL"},
	}
	for host, w := range want {
		r := got[host]
		if r.Status != w.status || !strings.Contains(r.Error, w.error) {
			t.Errorf("%s: %s (%s), want %s (…%s…)", host, r.Status, r.Error, w.status, w.error)
		}
	}
	if got["signal"].Exit != 137 || got["drop"].Exit != -1 || got["stall-open"].Exit != -1 {
		t.Errorf("exits: signal %d, drop %d, stall-open %d", got["signal"].Exit, got["drop"].Exit, got["stall-open"].Exit)
	}
	// The flood kept at most the keep limit and counted the rest.
	if f := got["flood"]; len(f.Stdout) > DefaultLineLimit+len(CutMark)+1 || f.Dropped == 0 {
		t.Errorf("flood: kept %d bytes, dropped %d", len(f.Stdout), f.Dropped)
	}
}

// The run's deadline ends everything: hosts that had not started their
// command are not started, running ones timed out at the deadline.
func TestDeadlineEndsTheRun(t *testing.T) {
	targets, _ := hostileFleet(t)
	o := testOptions()
	o.ConnectTimeout, o.Deadline = 5*time.Second, 1500*time.Millisecond
	start := time.Now()
	got := byName(Run(context.Background(), targets, o))
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the run took %s with a 1.5 s deadline", took)
	}
	for host, want := range map[string]Status{"good": OK, "stall-kex": NotStarted, "stall-open": NotStarted,
		"stall-exec": NotStarted, "stall-run": TimedOut, "drip": TimedOut, "flood": TimedOut} {
		if r := got[host]; r.Status != want {
			t.Errorf("%s: %s (%s), want %s", host, r.Status, r.Error, want)
		}
	}
	if e := got["stall-run"].Error; !strings.Contains(e, "deadline") {
		t.Errorf("stall-run: %q does not name the deadline", e)
	}
	if e := got["stall-kex"].Error; !strings.Contains(e, "deadline") || strings.Contains(e, "handshake") {
		t.Errorf("stall-kex: %q", e)
	}
}

// An interrupt ends a run at once, whatever the hosts do: stalled ones
// are not started, running ones interrupted, hosts still queued never
// started — and every host has a result, given to OnDone.
func TestInterruptEndsTheRunAtOnce(t *testing.T) {
	all, _ := hostileFleet(t)
	// Six stalling hosts take every fork; the good one waits in the queue.
	targets := queuedBehindStalls(all)
	o := testOptions()
	o.Forks, o.ConnectTimeout = 6, time.Minute // no timeout would end them
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	done := 0
	o.OnDone = func(Result) { done++ }
	start := time.Now()
	results := Run(ctx, targets, o)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the run took %s to end after the interrupt at 1s", took)
	}
	got := byName(results)
	for host, want := range map[string]Status{"stall-kex": NotStarted, "stall-open": NotStarted, "stall-exec": NotStarted,
		"stall-run": Interrupted, "drip": Interrupted, "flood": Interrupted} {
		if r := got[host]; r.Status != want {
			t.Errorf("%s: %s (%s), want %s", host, r.Status, r.Error, want)
		}
	}
	if r := got["good"]; r.Status != NotStarted || !strings.Contains(r.Error, "before it started") {
		t.Errorf("the queued host: %s (%s)", r.Status, r.Error)
	}
	if done != len(targets) {
		t.Errorf("OnDone for %d of %d hosts", done, len(targets))
	}
}

// queuedBehindStalls orders a hostile fleet's hosts so that six stalling
// ones come first (at 6 forks they take every place) and the good one
// waits in the queue behind them.
func queuedBehindStalls(all []Target) []Target {
	var targets []Target
	for _, name := range []string{"stall-kex", "stall-open", "stall-exec", "stall-run", "drip", "flood", "good"} {
		for _, tg := range all {
			if tg.Name == name {
				targets = append(targets, tg)
			}
		}
	}
	return targets
}
