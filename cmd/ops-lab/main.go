// Command ops-lab starts and stops the local lab that stands in for a data
// center: see internal/lab. It is a development tool, not part of ops.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/ops-team/ops/helper/sshx"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ops-team/ops/internal/fakeecr"
	"github.com/ops-team/ops/internal/fakemackerel"
	"github.com/ops-team/ops/internal/lab"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ops-lab:", err)
		os.Exit(1)
	}
}

const usage = "usage: ops-lab [--dir DIR] up [--hosts N] | down | status | env | serve | deps"

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ops-lab", flag.ContinueOnError)
	dir := fs.String("dir", envOr("OPS_LAB_DIR", ".lab"), "lab state directory")
	hosts := fs.Int("hosts", 3, "number of target hosts (up)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return errors.New(usage)
	}
	cmd := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; %s", fs.Arg(0), usage)
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o := lab.Options{Dir: abs, Hosts: *hosts, Self: self, Out: os.Stderr}
	switch cmd {
	case "up":
		if os.Geteuid() != 0 {
			return errors.New("the lab creates users and starts sshd and dockerd: run it as root")
		}
		return lab.Up(ctx, o)
	case "down":
		return lab.Down(ctx, o)
	case "deps":
		if os.Geteuid() != 0 {
			return errors.New("installing Debian's packages needs root")
		}
		return lab.Deps(ctx, o)
	case "status":
		st, err := lab.Load(abs)
		if err != nil {
			return fmt.Errorf("lab is not running (%v)", err)
		}
		return lab.Status(os.Stdout, st)
	case "env":
		st, err := lab.Load(abs)
		if err != nil {
			return fmt.Errorf("lab is not running (%v); run make lab-up", err)
		}
		for _, kv := range st.Env() {
			fmt.Printf("export %s=%s\n", kv[0], sshx.Quote(kv[1]))
		}
		return nil
	case "serve":
		return serve(ctx, abs)
	}
	return fmt.Errorf("unknown command %q; %s", cmd, usage)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// serve runs the two fakes of the lab until signalled.
func serve(ctx context.Context, dir string) error {
	st, err := lab.Load(dir)
	if err != nil {
		return err
	}
	ecr := &fakeecr.Server{
		AccessKeyID:     st.AWSAccessKeyID,
		SecretAccessKey: st.AWSSecretKey,
		Region:          lab.AWSRegion,
		Username:        lab.RegistryUser,
		Password:        st.RegistryPassword,
		ProxyEndpoint:   "http://" + st.RegistryAddr,
	}
	mkr := &fakemackerel.Server{APIKey: st.MackerelAPIKey, Hosts: lab.MackerelHosts(st)}
	errc := make(chan error, 2)
	var servers []*http.Server
	for _, s := range []struct {
		addr string
		h    http.Handler
	}{{st.ECRAddr, ecr}, {st.MackerelAddr, mkr}} {
		l, err := net.Listen("tcp", s.addr)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: s.h}
		servers = append(servers, srv)
		go func() { errc <- srv.Serve(l) }()
	}
	select {
	case <-ctx.Done():
		for _, s := range servers {
			_ = s.Close()
		}
		return nil
	case err := <-errc:
		return err
	}
}
