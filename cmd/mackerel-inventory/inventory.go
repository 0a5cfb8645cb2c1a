package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	mkr "github.com/mackerelio/mackerel-client-go"
	"github.com/urfave/cli/v2"

	"github.com/ops-team/ops/cmd/internal/buildinfo"

	mackerelx "github.com/ops-team/ops/helper/mackerel"
	"github.com/ops-team/ops/inventory"
)

// env is where output goes; settings come from flags and the process
// environment (urfave/cli reads the EnvVars of each flag).
type env struct {
	stdout, stderr io.Writer
}

type usageError struct{ error }

type options struct {
	list        bool
	host        string
	filter      inventory.Filter
	ansibleHost inventory.AnsibleHost
	apiKey      string
	apiBase     string
	cacheDir    string
	cacheTTL    time.Duration
	refresh     bool
	allowStale  bool
	timeout     time.Duration
	attempts    int
	backoff     time.Duration
}

func run(ctx context.Context, args []string, e env) int {
	app := &cli.App{
		Name:      "mackerel-inventory",
		Usage:     "Ansible dynamic inventory over the Mackerel API",
		UsageText: "mackerel-inventory --list | --host NAME [filters]",
		Writer:    e.stderr, ErrWriter: e.stderr,
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {},
		OnUsageError:    func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "version", Usage: "print the version and exit"},
			&cli.BoolFlag{Name: "list", Usage: "print the inventory"},
			&cli.StringFlag{Name: "host", Usage: "print the variables of host `NAME`"},
			&cli.StringFlag{Name: "service", Usage: "only hosts of `SERVICE`", EnvVars: []string{"MACKEREL_INVENTORY_SERVICE"}},
			&cli.StringSliceFlag{Name: "role", Usage: "only hosts with `ROLE` in the service (repeatable)", EnvVars: []string{"MACKEREL_INVENTORY_ROLES"}},
			&cli.StringSliceFlag{Name: "status", Usage: "only hosts in `STATUS` (repeatable; default working and standby)", EnvVars: []string{"MACKEREL_INVENTORY_STATUSES"}},
			&cli.StringFlag{Name: "name", Usage: "only the host named `NAME`", EnvVars: []string{"MACKEREL_INVENTORY_NAME"}},
			&cli.StringFlag{Name: "exclude", Usage: "leave out hosts whose name matches `REGEXP`", EnvVars: []string{"MACKEREL_INVENTORY_EXCLUDE"}},
			&cli.StringFlag{Name: "ansible-host", Value: "ipv4", Usage: "ansible_host from `SOURCE`: name, ipv4, ipv4:IFACE, customIdentifier", EnvVars: []string{"MACKEREL_INVENTORY_ANSIBLE_HOST"}},
			&cli.StringFlag{Name: "agent-conf", Value: mackerelx.DefaultAgentConf, Usage: "mackerel-agent.conf to read apikey (and apibase) from when MACKEREL_APIKEY is unset", EnvVars: []string{"MACKEREL_AGENT_CONF"}},
			&cli.StringFlag{Name: "cache-dir", Usage: "cache `DIR` (default: the user's cache directory)", EnvVars: []string{"MACKEREL_INVENTORY_CACHE_DIR"}},
			&cli.DurationFlag{Name: "cache-ttl", Value: time.Minute, Usage: "reuse an answer this long; 0 disables the cache", EnvVars: []string{"MACKEREL_INVENTORY_CACHE_TTL"}},
			&cli.BoolFlag{Name: "refresh", Usage: "ask the API even if the cache is fresh", EnvVars: []string{"MACKEREL_INVENTORY_REFRESH"}},
			&cli.BoolFlag{Name: "allow-stale", Usage: "when the API fails, use an expired cache (said on stderr)", EnvVars: []string{"MACKEREL_INVENTORY_ALLOW_STALE"}},
			&cli.IntFlag{Name: "attempts", Value: 4, Usage: "tries per API call on 429, 5xx and network errors", EnvVars: []string{"MACKEREL_INVENTORY_ATTEMPTS"}},
			&cli.DurationFlag{Name: "backoff", Value: 500 * time.Millisecond, Usage: "first wait between tries, doubled each time (429 waits as Retry-After says)", EnvVars: []string{"MACKEREL_INVENTORY_BACKOFF"}},
			&cli.DurationFlag{Name: "timeout", Value: time.Minute, Usage: "give up on the API after this long, retries included", EnvVars: []string{"MACKEREL_INVENTORY_TIMEOUT"}},
		},
		HideVersion: true,
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				_, err := fmt.Fprintf(e.stdout, "mackerel-inventory %s %s\n", buildinfo.Version(), buildinfo.Runtime())
				return err
			}
			o, err := parseOptions(c, e)
			if err != nil {
				return err
			}
			return runInventory(c.Context, e, o)
		},
	}
	err := app.RunContext(ctx, args)
	if err == nil {
		return 0
	}
	fmt.Fprintln(e.stderr, "mackerel-inventory:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func parseOptions(c *cli.Context, e env) (*options, error) {
	o := &options{
		list: c.Bool("list"), host: c.String("host"),
		filter: inventory.Filter{
			Service: c.String("service"), Roles: nonEmpty(c.StringSlice("role")),
			Statuses: nonEmpty(c.StringSlice("status")), Name: c.String("name"),
		},
		cacheDir: c.String("cache-dir"), cacheTTL: c.Duration("cache-ttl"),
		refresh: c.Bool("refresh"), allowStale: c.Bool("allow-stale"), timeout: c.Duration("timeout"),
		attempts: c.Int("attempts"), backoff: c.Duration("backoff"),
	}
	if c.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected argument %q", c.Args().First())}
	}
	if o.list == (o.host != "") {
		return nil, usageError{errors.New("give exactly one of --list or --host NAME")}
	}
	if x := c.String("exclude"); x != "" {
		re, err := regexp.Compile(x)
		if err != nil {
			return nil, usageError{fmt.Errorf("--exclude: %v", err)}
		}
		o.filter.Exclude = re
	}
	if err := o.filter.Validate(); err != nil {
		return nil, usageError{err}
	}
	ah, err := inventory.ParseAnsibleHost(c.String("ansible-host"))
	if err != nil {
		return nil, usageError{err}
	}
	o.ansibleHost = ah
	if o.cacheTTL < 0 || o.timeout <= 0 || o.attempts < 1 || o.backoff <= 0 {
		return nil, usageError{errors.New("--cache-ttl must be ≥ 0, --timeout and --backoff > 0, --attempts ≥ 1")}
	}
	// The API key as mkr finds it: the environment, then mackerel-agent.conf.
	o.apiKey = os.Getenv("MACKEREL_APIKEY")
	if o.apiKey == "" {
		o.apiKey = os.Getenv("MACKEREL_API_KEY")
	}
	o.apiBase = os.Getenv("MACKEREL_APIBASE")
	if o.apiKey == "" {
		// As mackerel-agent reads it: apikey, and apibase when set.
		k, base, err := mackerelx.AgentConf(c.String("agent-conf"))
		if err != nil {
			return nil, fmt.Errorf("no Mackerel API key: set MACKEREL_APIKEY, or apikey in %s (%v)", c.String("agent-conf"), unwrapPathError(err))
		}
		o.apiKey = k
		if o.apiBase == "" {
			o.apiBase = base
		}
	}
	if o.apiBase == "" {
		o.apiBase = mackerelx.DefaultBaseURL
	}
	if o.cacheDir == "" {
		if d, err := os.UserCacheDir(); err == nil {
			o.cacheDir = filepath.Join(d, "ops", "mackerel-inventory")
		} else if o.cacheTTL > 0 {
			fmt.Fprintln(e.stderr, "mackerel-inventory: no cache directory; not caching")
			o.cacheTTL = 0
		}
	}
	return o, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// runInventory writes to stdout only once everything has succeeded.
func runInventory(ctx context.Context, e env, o *options) error {
	hosts, err := fetch(ctx, e, o)
	if err != nil {
		return err
	}
	inv := inventory.Build(hosts, o.filter.Exclude, o.ansibleHost)
	for _, w := range inv.Warnings {
		fmt.Fprintln(e.stderr, "mackerel-inventory: warning:", w)
	}
	var out []byte
	if o.list {
		out, err = json.Marshal(inv)
	} else {
		hv, ok := inv.HostVars[o.host]
		if !ok {
			return fmt.Errorf("no host named %q in the inventory", o.host)
		}
		out, err = json.Marshal(hv)
	}
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(append(out, '\n'))
	return err
}

func fetch(ctx context.Context, e env, o *options) ([]*mkr.Host, error) {
	param := o.filter.Param()
	cache := inventory.Cache{Dir: o.cacheDir}
	key := inventory.Key(o.apiBase, o.apiKey, param)
	if o.cacheTTL > 0 && !o.refresh {
		if hosts, age, err := cache.Load(key); err == nil && age >= 0 && age < o.cacheTTL {
			return hosts, nil
		}
	}
	client, err := mackerelx.NewClient(mackerelx.Options{APIKey: o.apiKey, BaseURL: o.apiBase, Attempts: o.attempts, Backoff: o.backoff, Log: e.stderr})
	if err != nil {
		return nil, usageError{err}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	hosts, err := client.FindHostsContext(ctx, param)
	if err == nil && hosts == nil {
		err = errors.New("unexpected answer from the Mackerel API: no hosts list")
	}
	if err != nil {
		err = describe(err, o.apiBase)
		if o.allowStale && o.cacheTTL > 0 {
			if cached, age, cerr := cache.Load(key); cerr == nil {
				fmt.Fprintf(e.stderr, "mackerel-inventory: warning: using the cached inventory from %s ago: %v\n", age.Round(time.Second), err)
				return cached, nil
			}
		}
		return nil, err
	}
	if o.cacheTTL > 0 {
		if err := cache.Store(key, hosts); err != nil {
			fmt.Fprintln(e.stderr, "mackerel-inventory: warning: cache not written:", err)
		}
	}
	return hosts, nil
}

func describe(err error, base string) error {
	switch {
	case mackerelx.IsAuthError(err):
		return fmt.Errorf("the Mackerel API rejected the API key (%v)", err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the Mackerel API at %s did not answer in time", base)
	case isJSONError(err):
		return fmt.Errorf("malformed answer from the Mackerel API at %s: %v", base, err)
	}
	return fmt.Errorf("Mackerel API at %s: %v", base, err)
}

func isJSONError(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.As(err, &se) || errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF)
}

// nonEmpty drops blank items (an empty or "a,,b" environment variable).
func nonEmpty(items []string) []string {
	var out []string
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}
