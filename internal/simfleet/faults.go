package simfleet

import (
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Fault is what a hostile host does instead of behaving.
type Fault string

// The faults, in the order Spread interleaves them.
const (
	// StallKex accepts TCP and never sends a byte, not even its version
	// line; what the client sends is read and dropped.
	StallKex Fault = "stall-kex"
	// GarbageVersion answers like an HTTP server: a 400 response whose
	// body is one line longer than an SSH version may be, then end of
	// stream (the socket stays open for reading until the client
	// closes).
	GarbageVersion Fault = "garbage-version"
	// RefuseAuth is an SSH server that rejects every authentication.
	RefuseAuth Fault = "refuse-auth"
	// StallOpen completes key exchange and authentication, then never
	// answers a channel open (global requests are still answered).
	StallOpen Fault = "stall-open"
	// StallExec accepts the session and never answers exec or shell.
	StallExec Fault = "stall-exec"
	// StallRun accepts exec, then sends nothing and never exits.
	StallRun Fault = "stall-run"
	// Drip accepts exec, then writes "." once a second, never a newline,
	// never exits.
	Drip Fault = "drip"
	// Flood accepts exec, then writes "." as fast as the client reads,
	// never a newline, never exits.
	Flood Fault = "flood"
	// Drop accepts exec, writes one line and closes the TCP connection:
	// no exit status, no channel close, no disconnect message.
	Drop Fault = "drop"
	// Signal accepts exec, writes one line, sends exit-signal KILL (no
	// exit-status) and closes the channel.
	Signal Fault = "signal"
)

// Faults are all the faults, in Spread's order.
func Faults() []Fault {
	return []Fault{StallKex, GarbageVersion, RefuseAuth, StallOpen, StallExec, StallRun, Drip, Flood, Drop, Signal}
}

func (ft Fault) valid() bool { return slices.Contains(Faults(), ft) }

// Group is the inventory group of the fault's hosts: its name with "-"
// replaced by "_" (stall_open, flood…).
func (ft Fault) Group() string { return strings.ReplaceAll(string(ft), "-", "_") }

// ParseFaults reads the -faults syntax, name=AMOUNT[,name=AMOUNT…], where
// AMOUNT is a count of hosts or a percent of n ("2%", "0.5%"; rounded to
// the nearest host, at least one if above 0), and spreads that many
// hostile hosts over a fleet of n (see Spread). An empty spec is no fault.
// Example: "stall-open=2%,flood=1%,drop=10".
func ParseFaults(spec string, n int) (map[int]Fault, error) {
	counts := map[Fault]int{}
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, amount, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want name=count or name=percent%%", item)
		}
		ft := Fault(strings.TrimSpace(name))
		if !ft.valid() {
			names := make([]string, 0, len(Faults()))
			for _, k := range Faults() {
				names = append(names, string(k))
			}
			return nil, fmt.Errorf("unknown fault %q (known: %s)", ft, strings.Join(names, ", "))
		}
		if _, dup := counts[ft]; dup {
			return nil, fmt.Errorf("fault %s given twice", ft)
		}
		c, err := parseAmount(strings.TrimSpace(amount), n)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", ft, err)
		}
		counts[ft] = c
	}
	return Spread(n, counts)
}

func parseAmount(s string, n int) (int, error) {
	bad := fmt.Errorf("bad amount %q (want a count or a percent: 10, 2%%)", s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return 0, bad
		}
		if v > 100 {
			return 0, fmt.Errorf("%s is over 100%%", s)
		}
		c := int(math.Round(v * float64(n) / 100))
		if c == 0 && v > 0 {
			c = 1
		}
		return c, nil
	}
	c, err := strconv.Atoi(s)
	if err != nil || c < 0 {
		return 0, bad
	}
	return c, nil
}

// Spread assigns counts[ft] hosts of a fleet of n to each fault,
// deterministically and spread out: the T hostile hosts sit at an even
// stride over the fleet, at indices (2j+1)·n/(2T), so never all at the
// start; and the faults are interleaved among them, each one spread as
// evenly as its count allows (ties in Faults() order). Totals over n are
// an error.
func Spread(n int, counts map[Fault]int) (map[int]Fault, error) {
	type slot struct {
		ft         Fault
		num, denom int // position num/denom in [0,1)
	}
	var slots []slot
	for _, ft := range Faults() {
		c := counts[ft]
		for k := 0; k < c; k++ {
			slots = append(slots, slot{ft, 2*k + 1, 2 * c})
		}
	}
	for ft, c := range counts {
		if !ft.valid() {
			return nil, fmt.Errorf("unknown fault %q", ft)
		}
		if c < 0 {
			return nil, fmt.Errorf("%s: negative count %d", ft, c)
		}
	}
	t := len(slots)
	if t > n {
		return nil, fmt.Errorf("%d hostile hosts for a fleet of %d", t, n)
	}
	slices.SortStableFunc(slots, func(a, b slot) int {
		return a.num*b.denom - b.num*a.denom
	})
	out := make(map[int]Fault, t)
	for j, s := range slots {
		out[(2*j+1)*n/(2*t)] = s.ft
	}
	return out, nil
}

// hostileRun is a hostile host's command, after exec was accepted.
func (f *Fleet) hostileRun(fault Fault, c net.Conn, ch ssh.Channel, creqs <-chan *ssh.Request) {
	// Requests keep being answered (no to all) until the channel
	// closes; closed says when.
	closed := make(chan struct{})
	f.goFleet(func() {
		ssh.DiscardRequests(creqs)
		close(closed)
	})
	switch fault {
	case StallRun:
		<-closed
	case Drip:
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if _, err := ch.Write(f.flood[:1]); err != nil {
				return
			}
			select {
			case <-tick.C:
			case <-closed:
				return
			case <-f.done:
				return
			}
		}
	case Flood:
		// Write blocks on the client's window; it fails once the channel
		// or the connection is closed.
		for {
			if _, err := ch.Write(f.flood); err != nil {
				return
			}
		}
	case Drop:
		f.uptime(ch)
		c.Close()
	case Signal:
		f.uptime(ch)
		_, _ = ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{"KILL", false, "", ""}))
	}
}

// stallKex reads and drops what the client sends, answering nothing,
// until the client or the fleet closes the connection (or its deadline).
func stallKex(c net.Conn) {
	_, _ = io.Copy(io.Discard, c)
}

// garbageVersion answers like an HTTP server would, with a body line
// longer than the 255 bytes an SSH version line may have (x/crypto/ssh
// fails with "overflow reading version string", OpenSSH with "Connection
// closed"), ends its side of the stream and waits for the client to
// close.
func garbageVersion(c net.Conn) {
	body := "<html><head><title>400 Bad Request</title></head><body><center><h1>400 Bad Request</h1></center>" +
		"<center>The plain HTTP request was sent to an SSH port.</center>" + strings.Repeat(" ", 160) + "<hr><center>simfleet</center></body></html>"
	_, _ = fmt.Fprintf(c, "HTTP/1.1 400 Bad Request\r\nServer: simfleet\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, c)
}
