package main

import (
	"fmt"

	"github.com/ops-team/ops/cmd/internal/buildinfo"

	"github.com/urfave/cli/v2"
)

// buildVersion is the module version and VCS revision ops was built from.
func buildVersion() string { return buildinfo.Version() }

func versionCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of ops",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("version takes no arguments")
			}
			return printVersion(d)
		},
	}
}

func printVersion(d *deps) error {
	_, err := fmt.Fprintf(d.out, "ops %s %s\n", buildVersion(), buildinfo.Runtime())
	return err
}
