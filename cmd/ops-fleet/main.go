// Command ops-fleet serves a simulated fleet for `make bench` (see
// internal/simfleet) and writes inventories for ops exec, Ansible and
// parallel-ssh. `ops-fleet slow-agent` puts a delay in front of an agent.
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
	"path/filepath"
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
	out := flag.String("out", ".", "directory for inventory.ini and pssh-hosts")
	user := flag.String("user", "bench", "login user written to the inventories")
	delay := flag.Duration("delay", 0, "hold every packet the fleet sends (a far network)")
	floorPort := flag.Int("floor-port", 0, "also answer the raw floor exchange on this port (see ops-fleet floor)")
	flag.Parse()
	f, err := simfleet.Start(*n, *port, *delay)
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
	var ini, pssh strings.Builder
	ini.WriteString("[fleet]\n")
	for i, a := range f.Addrs {
		host, p, _ := net.SplitHostPort(a)
		fmt.Fprintf(&ini, "h%04d ansible_host=%s ansible_port=%s\n", i, host, p)
		fmt.Fprintf(&pssh, "%s@%s:%s\n", *user, host, p)
	}
	fmt.Fprintf(&ini, "[all:vars]\nansible_user=%s\n", *user)
	_ = os.WriteFile(filepath.Join(*out, "inventory.ini"), []byte(ini.String()), 0o644)
	_ = os.WriteFile(filepath.Join(*out, "pssh-hosts"), []byte(pssh.String()), 0o644)
	fmt.Println("ready")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	f.Close()
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
