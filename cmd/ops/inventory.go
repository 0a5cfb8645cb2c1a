package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ops-team/ops/helper/ansible"
)

// ops inventory: what ansible-inventory prints for the same sources.

type inventoryOptions struct {
	inventories []string // -i, in order; none: defaultSources
	extraVars   []string // -e, in order
	limit       string
	playbookDir string // group_vars/ and host_vars/ beside it too; "" is the current directory
	list        bool
	host        string
	graph       bool
	group       string // --graph's group, "" for all
	// defaultSources are the sources when no -i is given (ansible.cfg's
	// inventory = plugs in here); empty: $ANSIBLE_INVENTORY, else
	// /etc/ansible/hosts.
	defaultSources []string
}

func inventoryCommand(d *deps) *cli.Command {
	var inv, extra repeatedFlag
	return &cli.Command{
		Name:      "inventory",
		Usage:     "print the inventory as ansible-inventory does: --list, --host HOST or --graph [GROUP]",
		ArgsUsage: "[GROUP]",
		Flags: []cli.Flag{
			// Repeatable flags: one name each (urfave/cli copies an aliased
			// value into its other names, which would append it twice).
			&cli.GenericFlag{Name: "i", Value: &inv, Usage: "inventory `SOURCE` (file, directory, script or h1,h2,); repeatable; also --inventory"},
			&cli.GenericFlag{Name: "inventory", Value: &inv, Hidden: true},
			&cli.GenericFlag{Name: "e", Value: &extra, Usage: "extra `VARS` (k=v k2=v2, YAML/JSON, or @FILE); repeatable; also --extra-vars"},
			&cli.GenericFlag{Name: "extra-vars", Value: &extra, Hidden: true},
			&cli.StringFlag{Name: "limit", Aliases: []string{"l"}, Usage: "only the hosts `PATTERN` selects"},
			&cli.StringFlag{Name: "playbook-dir", Usage: "read group_vars/ and host_vars/ beside `DIR` (default: the current directory)"},
			&cli.BoolFlag{Name: "list", Usage: "every group and host with its variables, as JSON"},
			&cli.StringFlag{Name: "host", Usage: "one `HOST`'s variables, as JSON"},
			&cli.BoolFlag{Name: "graph", Usage: "the group tree from GROUP (default all)"},
		},
		Action: func(c *cli.Context) error {
			o := inventoryOptions{
				inventories: inv, extraVars: extra, limit: c.String("limit"), playbookDir: c.String("playbook-dir"),
				list: c.Bool("list"), host: c.String("host"), graph: c.Bool("graph"),
			}
			acfg, err := d.ansibleConfig()
			if err != nil {
				return err
			}
			o.defaultSources = acfg.Inventory
			switch {
			case c.NArg() > 1:
				return usagef("inventory: unexpected %q", c.Args().Get(1))
			case c.NArg() == 1 && !o.graph:
				return usagef("inventory: unexpected %q (a GROUP goes with --graph)", c.Args().First())
			case c.NArg() == 1:
				o.group = c.Args().First()
			}
			return runInventory(c.Context, d, o)
		},
	}
}

// repeatedFlag collects a flag given several times, commas and all
// (`-i h1,h2,` is one host list).
type repeatedFlag []string

func (r *repeatedFlag) String() string     { return strings.Join(*r, " ") }
func (r *repeatedFlag) Set(v string) error { *r = append(*r, v); return nil }

// inventorySources are -i's, else the defaults, else $ANSIBLE_INVENTORY,
// else /etc/ansible/hosts.
func inventorySources(d *deps, given, defaults []string) []string {
	switch {
	case len(given) > 0:
		return given
	case len(defaults) > 0:
		return defaults
	}
	if env := d.getenv("ANSIBLE_INVENTORY"); env != "" {
		var out []string
		for _, s := range strings.Split(env, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return []string{"/etc/ansible/hosts"}
}

// openInventory loads the sources; a source that cannot be read or parsed
// is a usage error (exit 2), as are bad extra vars.
func openInventory(ctx context.Context, sources, extraVars []string, basedir string) (*ansible.Inventory, error) {
	ev, err := ansible.ParseExtraVars(extraVars)
	if err != nil {
		return nil, usageError{err}
	}
	inv, err := ansible.Open(ctx, ansible.Options{Sources: sources, Basedir: basedir, ExtraVars: ev})
	var se *ansible.SourceError
	if errors.As(err, &se) {
		return nil, usageError{err}
	}
	return inv, err
}

func runInventory(ctx context.Context, d *deps, o inventoryOptions) error {
	actions := 0
	for _, on := range []bool{o.list, o.host != "", o.graph} {
		if on {
			actions++
		}
	}
	switch {
	case actions == 0:
		return usagef("inventory needs one of --list, --host HOST or --graph [GROUP]")
	case actions > 1:
		return usagef("inventory: only one of --list, --host or --graph at a time")
	}
	inv, err := openInventory(ctx, inventorySources(d, o.inventories, o.defaultSources), o.extraVars, o.playbookDir)
	if err != nil {
		return err
	}
	var limit []string
	if o.limit != "" {
		if limit, err = inv.Select(o.limit); err != nil {
			return usagef("--limit: %v", err)
		}
		if limit == nil {
			limit = []string{}
		}
	}
	switch {
	case o.list:
		_, err = fmt.Fprintf(d.out, "%s\n", ansible.MarshalPython(inv.List(limit)))
	case o.host != "":
		hosts, err := inv.Select(o.host)
		if err != nil {
			return usagef("--host: %v", err)
		}
		if limit != nil {
			in := map[string]bool{}
			for _, h := range limit {
				in[h] = true
			}
			var kept []string
			for _, h := range hosts {
				if in[h] {
					kept = append(kept, h)
				}
			}
			hosts = kept
		}
		if len(hosts) != 1 {
			return usagef("--host %s: no such host in the inventory (give exactly one host)", o.host)
		}
		vars, err := inv.HostVars(hosts[0])
		if err != nil {
			return usagef("--host: %v", err)
		}
		_, err = fmt.Fprintf(d.out, "%s\n", ansible.MarshalPython(vars))
		return err
	default:
		graph, err := inv.Graph(o.group, limit)
		if err != nil {
			return usagef("--graph: %v", err)
		}
		_, err = fmt.Fprintln(d.out, graph)
		return err
	}
	return err
}
