// Command mackerel-inventory is an Ansible dynamic inventory over the
// Mackerel API: `--list` prints the whole inventory as JSON (with
// _meta.hostvars), `--host NAME` one host's variables.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, env{stdout: os.Stdout, stderr: os.Stderr})
	stop()
	os.Exit(code)
}
