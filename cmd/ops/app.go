package main

import (
	"context"
	"errors"
	"io"
	"log"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/ops-team/ops/cmd/internal/opsconfig"
	"github.com/ops-team/ops/helper/runlog"
)

type streams struct {
	in       io.Reader
	out, err io.Writer
	// hurry closes at a second interrupt: finish now (the run log is
	// committed locally only).
	hurry <-chan struct{}
}

// deps is what every subcommand receives: streams, environment and the
// resolved configuration.
type deps struct {
	streams
	inFile *os.File // stdin, when it is a file (for terminal checks)
	getenv func(string) string
	// lookupEnv tells a variable set empty from one unset (Ansible's
	// settings do); nil: os.LookupEnv.
	lookupEnv func(string) (string, bool)
	cfg       *opsconfig.Config
	header    *runlog.Header // the run being recorded, if any
	// secret masks a value (a password ops asked for) in the run being
	// recorded; a no-op when none is.
	secret func(string)
	doctor doctorClients   // ops doctor's clients; zero: the real ones
	site   *opsconfig.Site // the site reached (nil: server.host)
	self   string          // this executable
	argv   []string        // as typed, for the run log
}

// configFlags are global flags that override one configuration key each.
var configFlags = []struct{ flag, key, usage string }{
	{"server", "server.host", "operation server `DEST` ([user@]host[:port] or ~/.ssh/config alias)"},
	{"image", "image.name", "image `REPOSITORY`"},
	{"tag", "image.tag", "image `TAG`"},
	{"no-log", "log.enabled", "do not record this run in the run log"},
}

func run(ctx context.Context, args []string, s streams) int {
	// x/crypto/ssh/agent reports every refused agent request through the
	// standard logger; ops speaks for itself on stderr.
	log.SetOutput(io.Discard)
	d := &deps{streams: s, getenv: os.Getenv, secret: func(string) {}}
	if f, ok := s.in.(*os.File); ok {
		d.inFile = f
	}
	d.self, _ = os.Executable()
	d.argv = args
	app := newApp(d)
	err := app.RunContext(ctx, args)
	return exitCode(ctx, err, s.err)
}

func newApp(d *deps) *cli.App {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "configuration `FILE` (default: ops.yaml found upwards from here over $XDG_CONFIG_HOME/ops/config.yaml, or the one file $OPS_CONFIG names)"},
		&cli.BoolFlag{Name: "version", Usage: "print the version of ops"},
	}
	for _, f := range configFlags {
		if f.flag == "no-log" {
			flags = append(flags, &cli.BoolFlag{Name: f.flag, Usage: f.usage})
			continue
		}
		flags = append(flags, &cli.StringFlag{Name: f.flag, Usage: f.usage})
	}
	app := &cli.App{
		Name:                 "ops",
		Usage:                "operate on a fleet from an operation server, in one container image",
		Flags:                flags,
		Reader:               d.in,
		Writer:               d.out,
		ErrWriter:            d.err,
		HideVersion:          true, // --version is ours: urfave's would take -v
		EnableBashCompletion: false,
		// Nothing may call os.Exit: errors come back to run and exitCode.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
		CommandNotFound: func(c *cli.Context, name string) {},
		Before: func(c *cli.Context) error {
			return d.loadConfig(c)
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("unknown command %q (see ops --help)", c.Args().First())
			}
			if c.Bool("version") {
				return printVersion(d)
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			versionCommand(d),
			configCommand(d),
			initCommand(d),
			buildCommand(d),
			pushCommand(d),
			pullCommand(d),
			deployCommand(d),
			checkCommand(d),
			doctorCommand(d),
			remoteCommand(d),
			remoteContainerCommand(d),
			localContainerCommand(d),
			superviseCommand(d),
			execCommand(d),
			inventoryCommand(d),
			playCommand(d),
			logCommand(d),
			sshGitCommand(d),
			completionCommand(d),
		},
	}
	self := func() *cli.App { return app }
	app.Commands = append(app.Commands, completeCommand(d, self), manCommand(d, self))
	setUsageErrors(app.Commands, app.OnUsageError)

	return app
}

// setUsageErrors makes every command's flag mistakes usage errors (exit 2,
// one line), and leaves leaf commands without a "help" subcommand (ops
// exec help -- … is the group named help).
func setUsageErrors(cmds []*cli.Command, onUsage cli.OnUsageErrorFunc) {
	for _, c := range cmds {
		c.OnUsageError = onUsage
		if len(c.Subcommands) == 0 {
			c.HideHelpCommand = true
			continue
		}
		if c.Action == nil {
			name := c.Name
			c.Action = func(cc *cli.Context) error {
				if cc.NArg() > 0 {
					return usagef("unknown %s command %q (see ops %s --help)", name, cc.Args().First(), name)
				}
				return cli.ShowSubcommandHelp(cc)
			}
		}
		setUsageErrors(c.Subcommands, onUsage)
	}
}

// loadConfig resolves flag > env > ops.yaml > the per-user file > default.
func (d *deps) loadConfig(c *cli.Context) error {
	wd, _ := os.Getwd()
	o := opsconfig.Options{Path: c.String("config"), Dir: wd, Getenv: d.getenv, Flags: map[string]string{}, FlagOf: map[string]string{}}
	for _, f := range configFlags {
		if !c.IsSet(f.flag) {
			continue
		}
		v := c.String(f.flag)
		if f.flag == "no-log" {
			v = "true"
			if c.Bool(f.flag) {
				v = "false"
			}
		}
		o.Flags[f.key], o.FlagOf[f.key] = v, f.flag
	}
	cfg, err := opsconfig.Load(o)
	if err != nil {
		var bv *opsconfig.BadValue
		if errors.As(err, &bv) {
			return usageError{err}
		}
		return err
	}
	d.cfg = cfg
	return nil
}
