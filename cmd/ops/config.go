package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ops-team/ops/cmd/internal/opsconfig"
)

type configOptions struct {
	showHelp bool
	asJSON   bool
}

func configCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "print every effective setting and where it came from",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "help-keys", Usage: "also describe each key"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON object on stdout: {file, files, keys: [{key, value, items, source, env, help}], ansible_cfg: {path, settings: [{section, key, value, origin, env}]}}; secrets masked"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("config takes no arguments")
			}
			return runConfig(d, configOptions{showHelp: c.Bool("help-keys"), asJSON: c.Bool("json")})
		},
	}
}

// credentialEnv are variables ops reads through libraries; shown masked.
var credentialEnv = []struct {
	name   string
	secret bool
}{
	{"SSH_AUTH_SOCK", false},
	{"AWS_PROFILE", false},
	{"AWS_REGION", false},
	{"AWS_ACCESS_KEY_ID", true},
	{"AWS_SECRET_ACCESS_KEY", true},
	{"AWS_SESSION_TOKEN", true},
	{"MACKEREL_APIKEY", true},
}

// configJSON is ops config --json's schema.
type siteJSON struct {
	Name         string `json:"name"`
	Host         string `json:"host"`
	DockerSocket string `json:"docker_socket"`
	Share        string `json:"share"`
	Source       string `json:"source"`
}

type configJSON struct {
	File       string      `json:"file"`
	Files      []string    `json:"files"`
	Keys       []configKey `json:"keys"`
	Sites      []siteJSON  `json:"sites,omitempty"`
	AnsibleCfg struct {
		Path     string           `json:"path"`
		Settings []ansibleSetting `json:"settings"`
	} `json:"ansible_cfg"`
}

type configKey struct {
	Key    string   `json:"key"`
	Value  string   `json:"value"`
	Items  []string `json:"items,omitempty"`
	Source string   `json:"source"`
	Env    string   `json:"env"`
	Help   string   `json:"help"`
}

type ansibleSetting struct {
	Section string `json:"section"`
	Key     string `json:"key"`
	Value   string `json:"value"`
	Origin  string `json:"origin"`
	Env     string `json:"env"`
}

func printConfigJSON(d *deps) error {
	var out configJSON
	out.File = d.cfg.File
	out.Files = append([]string{}, d.cfg.Files...)
	for _, v := range d.cfg.All() {
		val, items := v.String(), v.Items
		if v.Key.Secret {
			val, items = opsconfig.Mask(val), nil
		}
		out.Keys = append(out.Keys, configKey{v.Key.Name, val, items, v.Source, v.Key.Env(), v.Key.Help})
	}
	for _, st := range d.cfg.Sites() {
		out.Sites = append(out.Sites, siteJSON{st.Name, st.Host, st.DockerSocket, st.Share, st.Source})
	}
	acfg, err := d.ansibleConfig()
	if err != nil {
		return err
	}
	out.AnsibleCfg.Path = acfg.Path
	for _, st := range acfg.Settings {
		val := st.Value
		if st.Unset {
			val = ""
		}
		out.AnsibleCfg.Settings = append(out.AnsibleCfg.Settings, ansibleSetting{st.Section, st.Key, val, st.Origin, st.Env})
	}
	enc := json.NewEncoder(d.out)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func runConfig(d *deps, o configOptions) error {
	if o.asJSON {
		return printConfigJSON(d)
	}
	if len(d.cfg.Files) == 0 {
		fmt.Fprintln(d.out, "# config file: (none found; defaults and environment only)")
	}
	// Highest precedence first.
	for _, f := range d.cfg.Files {
		fmt.Fprintf(d.out, "# config file: %s\n", f)
	}
	w := tabwriter.NewWriter(d.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KEY\tVALUE\tSOURCE\tENV")
	for _, v := range d.cfg.All() {
		val := v.String()
		var more []string
		if v.Key.Kind == opsconfig.List && len(v.Items) > 1 {
			// One item a row keeps the table readable.
			val, more = v.Items[0], v.Items[1:]
		}
		if v.Key.Secret {
			val = opsconfig.Mask(val)
		}
		if val == "" {
			val = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", v.Key.Name, val, v.Source, v.Key.Env())
		for _, it := range more {
			fmt.Fprintf(w, "\t%s\t\t\n", it)
		}
		if o.showHelp {
			fmt.Fprintf(w, "\t  %s\t\t\n", v.Key.Help)
		}
	}
	for _, s := range d.cfg.Sites() {
		env := "OPS_SITES_" + strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_")) + "_"
		for _, f := range [][3]string{{"host", s.Host, "HOST"}, {"docker_socket", s.DockerSocket, "DOCKER_SOCKET"}, {"share", s.Share, "SHARE"}} {
			val := f[1]
			if val == "" {
				val = "-"
			}
			fmt.Fprintf(w, "sites.%s.%s\t%s\t%s\t%s\n", s.Name, f[0], val, s.Source, env+f[2])
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// What ops exec and ops inventory take from ansible.cfg, as ansible
	// finds it here.
	if acfg, err := d.ansibleConfig(); err != nil {
		fmt.Fprintf(d.out, "# ansible.cfg: %v\n", err)
	} else {
		path := acfg.Path
		if path == "" {
			path = "(none found)"
		}
		fmt.Fprintf(d.out, "# ansible.cfg: %s\n", path)
		w := tabwriter.NewWriter(d.out, 0, 4, 2, ' ', 0)
		for _, st := range acfg.Settings {
			val := st.Value
			if st.Unset || val == "" {
				val = "-"
			}
			fmt.Fprintf(w, "#   [%s] %s\t%s\t%s\t%s\n", st.Section, st.Key, val, st.Origin, st.Env)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(d.out, "# read through libraries (secrets masked):")
	for _, e := range credentialEnv {
		val := d.getenv(e.name)
		if val == "" {
			val = "-"
		} else if e.secret {
			val = opsconfig.Mask(val)
		}
		fmt.Fprintf(d.out, "#   %s=%s\n", e.name, val)
	}
	return nil
}
