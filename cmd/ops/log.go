package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

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
				Usage: "the newest runs first: ID, time, user, exit, hosts, command (QUEUED: not pushed yet)",
				UsageText: `ops log list [-n N] [--host H] [--user U] [--failed] [--since 2026-11-01|24h] [--project P|--all-projects] [--json]

Examples:
   ops log list --failed --since 24h
   ops log list --host web01 --all-projects`,
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "n", Value: 20, Usage: "how many"},
					&cli.StringFlag{Name: "host", Usage: "only runs that recorded `HOST`"},
					&cli.StringFlag{Name: "user", Usage: "only runs of `USER`"},
					&cli.BoolFlag{Name: "failed", Usage: "only runs that did not exit 0"},
					&cli.StringFlag{Name: "since", Usage: "only runs since `WHEN`: a date (2026-11-01), a time (RFC 3339) or a duration back (24h)"},
					&cli.StringFlag{Name: "project", Usage: "the `PROJECT`'s branch (default log.project, or this checkout's name)"},
					&cli.BoolFlag{Name: "all-projects", Usage: "every project's runs"},
					&cli.BoolFlag{Name: "json", Usage: "a JSON array of {id, time, user, exit, hosts, command, queued} on stdout"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usagef("log list takes no arguments")
					}
					f := runlog.ListFilter{N: c.Int("n"), Host: c.String("host"), User: c.String("user"), Failed: c.Bool("failed"), AllProjects: c.Bool("all-projects")}
					if s := c.String("since"); s != "" {
						t, err := parseSince(s, time.Now())
						if err != nil {
							return usagef("--since: %v", err)
						}
						f.Since = t
					}
					if c.IsSet("project") && f.AllProjects {
						return usagef("log list: --project and --all-projects do not go together")
					}
					repo := d.logRepo(c.Context)
					if p := c.String("project"); p != "" {
						repo.Branch = runlog.BranchName(p)
					}
					list, err := repo.List(c.Context, f)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						if list == nil {
							list = []runlog.Summary{}
						}
						return json.NewEncoder(d.out).Encode(list)
					}
					if f.AllProjects {
						fmt.Fprintf(d.out, "# %s, every branch\n", repo.Dir)
					} else {
						fmt.Fprintf(d.out, "# %s, branch %s\n", repo.Dir, repo.Branch)
					}
					w := tabwriter.NewWriter(d.out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "ID\tTIME\tUSER\tEXIT\tHOSTS\tCOMMAND")
					for _, s := range list {
						cmd := s.Command
						if s.Queued {
							cmd = "QUEUED " + cmd // not on the remote yet
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, s.Time, s.User, s.Exit, s.Hosts, cmd)
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
				Usage: "push the queued runs now, waiting for a push under way",
				Action: func(c *cli.Context) error {
					repo := d.logRepo(c.Context)
					if repo.Remote == "" {
						return usagef("no log.remote to push to")
					}
					lctx, cancel := context.WithTimeout(c.Context, 2*pushBound)
					defer cancel()
					if _, err := os.Stat(filepath.Join(repo.Dir, ".git")); err != nil {
						fmt.Fprintf(d.err, "ops: pushed 0 run(s) to %s\n", repo.Remote) // nothing recorded yet
						return nil
					}
					lock, err := waitPushLock(lctx, repo)
					if err != nil {
						return err
					}
					defer unlockPush(lock)
					n, err := pushAndMark(c.Context, repo, pushBound)
					if err != nil {
						return err
					}
					fmt.Fprintf(d.err, "ops: pushed %d run(s) to %s\n", n, repo.Remote)
					return nil
				},
			},
			{
				Name:   "__push",
				Hidden: true,
				Usage:  "the background push a run starts (holds the lock on fd 3)",
				Action: func(c *cli.Context) error { return d.backgroundPush(c.Context) },
			},
		},
	}
}

// parseSince reads --since: a date, an RFC 3339 time, or a duration back
// from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a date (2006-01-02), a time (RFC 3339) nor a duration (24h)", s)
}
