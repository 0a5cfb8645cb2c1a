// Command ops-fleet serves a simulated fleet for `make bench` (see
// internal/simfleet) and writes inventories for ops exec, Ansible and
// parallel-ssh. `ops-fleet slow-agent` puts a delay in front of an agent.
//
// Usage:
//
//	ops-fleet [-n 1000] [-port 2200] [-out DIR] [-user bench] [-delay D]
//	          [-floor-port P] [-faults SPEC]
//	ops-fleet floor [-n 1000] [-port 2201] [-f 200]
//	ops-fleet slow-agent -upstream SOCK -listen SOCK [-delay 50ms]
//
// Hosts are h0000… at 127.1.x.y:PORT. It writes into -out inventory.ini
// (all hosts in [fleet], ansible_user in [all:vars]), pssh-hosts and
// faults.json, prints "ready" and serves until SIGINT or SIGTERM. After
// "ready" it prints "running hNNNN" when a hostile host has accepted its
// command (tests wait for it rather than for a guessed time).
//
// -faults makes some hosts hostile: a comma-separated list of
// name=COUNT or name=PERCENT%, e.g. `-faults stall-open=2%,flood=1%,drop=10`
// (a percent of -n, rounded, at least one host if above 0). The names:
//
//	stall-kex        accepts TCP, never sends a byte
//	garbage-version  answers an HTTP 400 with an overlong line, ends its stream
//	refuse-auth      rejects every authentication
//	stall-open       never answers the session channel open
//	stall-exec       never answers exec
//	stall-run        accepts exec, then silence, never exits
//	drip             accepts exec, then "." once a second, never exits
//	flood            accepts exec, then "." as fast as read, never exits
//	drop             accepts exec, writes a line, closes the TCP connection
//	signal           accepts exec, writes a line, exit-signal KILL, no exit status
//
// The hostile hosts are spread over the fleet at an even stride, the same
// for the same -n and -faults. In inventory.ini each is also in a group
// named after its fault with "-" as "_" ([stall_open], [flood]…), the
// others in [healthy]; faults.json maps names to faults:
// {"h0007": "stall-open", …}. An unknown name or more hostile hosts than
// -n is an error (exit 2).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ops-team/ops/internal/simfleet"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "slow-agent" {
		if err := slowAgent(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "ops-fleet:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		if err := floor(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "ops-fleet:", err)
			os.Exit(1)
		}
		return
	}
	n := flag.Int("n", 1000, "hosts")
	port := flag.Int("port", 2200, "port on every address")
	out := flag.String("out", ".", "directory for inventory.ini, pssh-hosts and faults.json")
	user := flag.String("user", "bench", "login user written to the inventories")
	delay := flag.Duration("delay", 0, "hold every packet the fleet sends (a far network)")
	floorPort := flag.Int("floor-port", 0, "also answer the raw floor exchange on this port (see ops-fleet floor)")
	faultSpec := flag.String("faults", "", "hostile hosts: name=COUNT or name=PERCENT%, comma-separated, e.g. stall-open=2%,flood=1%,drop=10\n(names: "+faultNames()+")")
	flag.Parse()
	faults, err := simfleet.ParseFaults(*faultSpec, *n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ops-fleet: -faults:", err)
		os.Exit(2)
	}
	f, err := simfleet.StartFaults(*n, *port, *delay, faults)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ops-fleet:", err)
		os.Exit(1)
	}
	if *floorPort > 0 {
		ff, err := simfleet.FloorServer(*n, *floorPort)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ops-fleet:", err)
			os.Exit(1)
		}
		defer ff.Close()
	}
	if err := f.WriteInventory(*out, *user); err != nil {
		f.Close()
		fmt.Fprintln(os.Stderr, "ops-fleet:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for {
		select {
		case i := <-f.Running():
			fmt.Printf("running %s\n", simfleet.HostName(i))
		case <-ctx.Done():
			f.Close()
			return
		}
	}
}

// floor runs the floor client (internal/simfleet): what any SSH client
// must spend per host here, for comparison with a real one.
func floor(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ExitOnError)
	n := fs.Int("n", 1000, "hosts")
	port := fs.Int("port", 2201, "the fleet's -floor-port")
	forks := fs.Int("f", 200, "concurrency")
	_ = fs.Parse(args)
	var addrs []string
	for i := 0; i < *n; i++ {
		addrs = append(addrs, simfleet.Addr(i, *port))
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	done := simfleet.FloorClient(context.Background(), addrs, *forks, func(a string) {
		fmt.Fprintf(out, "%s load average: (floor exchange done)\n", a)
	})
	if done != *n {
		return fmt.Errorf("%d of %d exchanges failed", *n-done, *n)
	}
	return nil
}

// slowAgent proxies an agent socket, holding every request for a delay:
// a forwarded agent across a long link.
func slowAgent(args []string) error {
	fs := flag.NewFlagSet("slow-agent", flag.ExitOnError)
	upstream := fs.String("upstream", os.Getenv("SSH_AUTH_SOCK"), "agent to forward to")
	listen := fs.String("listen", "", "socket to serve")
	delay := fs.Duration("delay", 50*time.Millisecond, "added to every request")
	_ = fs.Parse(args)
	l, err := net.Listen("unix", *listen)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("unix", *upstream)
			if err != nil {
				return
			}
			defer u.Close()
			go func() { _, _ = io.Copy(c, u) }()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				time.Sleep(*delay)
				if _, err := u.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
	}
}

func faultNames() string {
	var names []string
	for _, ft := range simfleet.Faults() {
		names = append(names, string(ft))
	}
	return strings.Join(names, ", ")
}
