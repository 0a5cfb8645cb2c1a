package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/ops-team/ops/cmd/internal/opsconfig"
	"github.com/ops-team/ops/helper/mackerel"
	"github.com/ops-team/ops/helper/registry"
	"github.com/ops-team/ops/internal/atomicfile"
)

// initOptions are ops init's flags.
type initOptions struct {
	server, registry, auth, mackerelConf, logRemote string
	user                                            bool // the per-user file, not ./ops.yaml
}

func initCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "write a commented ops.yaml here (or with --user the per-user config file)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Usage: "operation server `DEST` ([user@]host[:port] or ~/.ssh/config alias); asked at a terminal"},
			&cli.StringFlag{Name: "registry", Usage: "image repository `REF` with its registry host (REGISTRY/NAME[:TAG]); asked at a terminal"},
			&cli.BoolFlag{Name: "ecr", Usage: "registry credentials from ECR (registry.auth: ecr)"},
			&cli.StringFlag{Name: "registry-auth", Usage: "registry credentials: `MODE` auto, ecr, docker (~/.docker/config.json)"},
			&cli.StringFlag{Name: "mackerel-conf", Usage: "mackerel-agent.conf `PATH` on the operation server, mounted read-only into the container"},
			&cli.StringFlag{Name: "log-remote", Usage: "git `URL` the run log is pushed to"},
			&cli.BoolFlag{Name: "user", Usage: "write the per-user file ($XDG_CONFIG_HOME/ops/config.yaml)"},
			&cli.BoolFlag{Name: "project", Usage: "write ops.yaml in the current directory (the default)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("init takes no arguments")
			}
			if c.Bool("user") && c.Bool("project") {
				return usagef("init: --user and --project exclude each other")
			}
			o := initOptions{
				server: c.String("server"), registry: c.String("registry"), auth: c.String("registry-auth"),
				mackerelConf: c.String("mackerel-conf"), logRemote: c.String("log-remote"), user: c.Bool("user"),
			}
			// ops --server DEST init: the global flag, when init's is not given.
			if v := d.cfg.Get("server.host"); o.server == "" && v.Source == "flag --server" {
				o.server = v.Raw
			}
			if v := d.cfg.Get("image.name"); o.registry == "" && v.Source == "flag --image" {
				o.registry = v.Raw
			}
			if c.Bool("ecr") {
				if o.auth != "" && o.auth != "ecr" {
					return usagef("init: --ecr and --registry-auth %s exclude each other", o.auth)
				}
				o.auth = "ecr"
			}
			_, tty := d.stdinTerminal()
			return runInit(d, o, tty)
		},
	}
}

// initTarget is the file ops init writes.
func (d *deps) initTarget(user bool) (string, error) {
	if user {
		p := opsconfig.UserFile(d.getenv)
		if p == "" {
			return "", fmt.Errorf("init: no per-user config directory (neither XDG_CONFIG_HOME nor HOME is set)")
		}
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return filepath.Join(wd, opsconfig.FileName), nil
}

func runInit(d *deps, o initOptions, tty bool) error {
	path, err := d.initTarget(o.user)
	if err != nil {
		return err
	}
	// Refuse before asking anything.
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("init: %s exists; left as it is (ops config shows what it holds)", path)
	}
	if err := askMissing(&o, tty, d.in, d.err); err != nil {
		return err
	}
	values, err := o.values()
	if err != nil {
		return err
	}
	body := sampleConfig(values)
	err = atomicfile.WriteNew(filepath.Dir(path), filepath.Base(path), []byte(body))
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("init: %s exists; left as it is (ops config shows what it holds)", path)
	}
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	fmt.Fprintln(d.out, path)
	fmt.Fprintf(d.err, "ops: wrote %s; next: ops doctor (this machine), ops check (the operation server)\n", path)
	return nil
}

// askMissing asks at a terminal for what the flags did not give; without
// one it names the missing flags (a usage error).
func askMissing(o *initOptions, tty bool, in io.Reader, prompt io.Writer) error {
	type field struct {
		flag, question string
		v              *string
	}
	var missing []field
	for _, f := range []field{
		{"--server", "operation server (SSH destination or ~/.ssh/config alias): ", &o.server},
		{"--registry", "image repository with its registry host (e.g. 123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/ops-ansible): ", &o.registry},
	} {
		if *f.v == "" {
			missing = append(missing, f)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if !tty {
		names := make([]string, len(missing))
		for i, f := range missing {
			names[i] = f.flag
		}
		return usagef("init: missing %s (stdin is not a terminal to ask at)", strings.Join(names, ", "))
	}
	r := bufio.NewReader(in)
	for _, f := range missing {
		for *f.v == "" {
			fmt.Fprint(prompt, f.question)
			line, err := r.ReadString('\n')
			*f.v = strings.TrimSpace(line)
			if err != nil && *f.v == "" {
				return usagef("init: no answer for %s", f.flag)
			}
		}
	}
	return nil
}

// containerMackerelConf is where mackerel-inventory looks in the container.
const containerMackerelConf = mackerel.DefaultAgentConf

// values are the keys ops init sets, checked as ops would read them.
func (o initOptions) values() (map[string]string, error) {
	v := map[string]string{"server.host": o.server}
	name, tag := o.registry, ""
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	if strings.Contains(name, "@") {
		return nil, usagef("init: --registry %q: a repository (and tag), not a digest", o.registry)
	}
	if _, err := registry.Host(name + ":" + cmpOr(tag, "latest")); err != nil {
		return nil, usagef("init: --registry: %v", err)
	}
	v["image.name"] = name
	if tag != "" {
		v["image.tag"] = tag
	}
	switch o.auth {
	case "":
	case "docker", "docker-config":
		v["registry.auth"] = "docker-config"
	case "ecr", "auto":
		v["registry.auth"] = o.auth
	default:
		return nil, usagef("init: --registry-auth %q: use auto, ecr or docker", o.auth)
	}
	if o.mackerelConf != "" {
		if !filepath.IsAbs(o.mackerelConf) || strings.Contains(o.mackerelConf, ":") {
			return nil, usagef("init: --mackerel-conf %q: an absolute path on the operation server, without ':'", o.mackerelConf)
		}
		v["container.mounts"] = o.mackerelConf + ":" + containerMackerelConf
	}
	if o.logRemote != "" {
		v["log.remote"] = o.logRemote
	}
	return v, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// sampleConfig is a commented configuration: every key of the schema, the
// ones in set (lists comma-separated) active, the others commented out at
// their defaults. Uncommenting any of them keeps the file valid.
func sampleConfig(set map[string]string) string {
	var b strings.Builder
	b.WriteString("# ops configuration (written by ops init).\n")
	b.WriteString("# Precedence, highest first: flag, environment (OPS_ + the key in upper snake case),\n")
	b.WriteString("# ./ops.yaml found upwards, the per-user file ~/.config/ops/config.yaml, default.\n")
	b.WriteString("# Commented lines show the defaults. Run ops config to see every effective value\n")
	b.WriteString("# and where it came from, and ops config --help-keys for what each key means.\n")
	section := ""
	var lines []string
	active := false
	flush := func() {
		if section == "" {
			return
		}
		if active {
			b.WriteString("\n" + section + ":\n")
		} else {
			b.WriteString("\n# " + section + ":\n")
		}
		for _, l := range lines {
			b.WriteString(l)
		}
	}
	for _, k := range opsconfig.Keys {
		sec, leaf, _ := strings.Cut(k.Name, ".")
		if sec != section {
			flush()
			section, lines, active = sec, nil, false
		}
		help := k.Help
		if k.Name == "log.secret_patterns" {
			help += "; never a pattern that matches everything (.*): it would mask the whole log"
		}
		if val, ok := set[k.Name]; ok {
			active = true
			lines = append(lines, fmt.Sprintf("  %s: %s  # %s\n", leaf, yamlValue(k, val), help))
			continue
		}
		lines = append(lines, fmt.Sprintf("  # %s: %s  # %s\n", leaf, yamlValue(k, k.Default), help))
	}
	flush()
	return b.String()
}

// yamlValue is s as YAML for the key's kind (lists comma-separated).
func yamlValue(k opsconfig.Key, s string) string {
	switch k.Kind {
	case opsconfig.Bool:
		return cmpOr(s, "false")
	case opsconfig.List:
		if s == "" {
			return "[]"
		}
		items := strings.Split(s, ",")
		q := make([]string, len(items))
		for i, it := range items {
			q[i] = yamlString(it)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return yamlString(s)
}

// yamlString is a double-quoted YAML scalar: nothing in s is read as YAML.
func yamlString(s string) string {
	n := yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
	out, err := yaml.Marshal(&n)
	if err != nil {
		// Marshal fails only on invalid nodes; this one is not.
		panic(err)
	}
	return strings.TrimSuffix(string(out), "\n")
}
