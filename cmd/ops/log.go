package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ops-team/ops/helper/runlog"
)

func logCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:  "log",
		Usage: "the run log: list, show, push",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "the newest runs first: ID, time, user, exit, hosts, command",
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "n", Value: 20, Usage: "how many"},
					&cli.BoolFlag{Name: "json", Usage: "a JSON array of {id, time, user, exit, hosts, command} on stdout"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usagef("log list takes no arguments")
					}
					repo := d.logRepo(c.Context)
					list, err := repo.List(c.Context, c.Int("n"))
					if err != nil {
						return err
					}
					if c.Bool("json") {
						if list == nil {
							list = []runlog.Summary{}
						}
						return json.NewEncoder(d.out).Encode(list)
					}
					fmt.Fprintf(d.out, "# %s, branch %s\n", repo.Dir, repo.Branch)
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
