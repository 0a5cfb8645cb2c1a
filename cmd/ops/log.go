package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

func logCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:  "log",
		Usage: "the run log: list, show, push",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "the newest runs first: ID, time, user, exit, hosts, command",
				Flags: []cli.Flag{&cli.IntFlag{Name: "n", Value: 20, Usage: "how many"}},
				Action: func(c *cli.Context) error {
					list, err := d.logRepo(c.Context).List(c.Context, c.Int("n"))
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(d.out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "ID\tTIME\tUSER\tEXIT\tHOSTS\tCOMMAND")
					for _, s := range list {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, s.Time, s.User, s.Exit, s.Hosts, s.Command)
					}
					return w.Flush()
				},
			},
			{
				Name:      "show",
				Usage:     "print one run's entry",
				ArgsUsage: "ID",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("log show needs one ID (see ops log list)")
					}
					b, err := d.logRepo(c.Context).Show(c.Context, c.Args().First())
					if err != nil {
						return err
					}
					_, err = d.out.Write(b)
					return err
				},
			},
			{
				Name:  "push",
				Usage: "push the runs queued by failed pushes",
				Action: func(c *cli.Context) error {
					repo := d.logRepo(c.Context)
					if repo.Remote == "" {
						return usagef("no log.remote to push to")
					}
					n, err := repo.Push(c.Context)
					if err != nil {
						return err
					}
					fmt.Fprintf(d.err, "ops: pushed %d run(s) to %s\n", n, repo.Remote)
					return nil
				},
			},
		},
	}
}
