package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"github.com/urfave/cli/v2"
)

// Shell completion: `ops completion bash|zsh|fish` prints a script that
// asks `ops __complete WORDS…` for the candidates of the last word. The
// candidates come from the same declarations as the help: urfave's
// commands and flags, and the pflag sets of exec and play.

const bashCompletion = `# ops completion for bash: source <(ops completion bash)
_ops() {
  local cur=${COMP_WORDS[COMP_CWORD]} IFS=$'\n'
  COMPREPLY=($(ops __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
  if [ ${#COMPREPLY[@]} -eq 0 ]; then COMPREPLY=($(compgen -f -- "$cur")); fi
}
complete -F _ops ops
`

const zshCompletion = `# ops completion for zsh: source <(ops completion zsh)
autoload -U +X bashcompinit && bashcompinit
` + bashCompletion

const fishCompletion = `# ops completion for fish: ops completion fish | source
complete -c ops -f -a '(ops __complete (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'
`

func completionCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		UsageText: `ops completion bash|zsh|fish

Examples:
   source <(ops completion bash)      # in ~/.bashrc
   source <(ops completion zsh)       # in ~/.zshrc
   ops completion fish | source       # in ~/.config/fish/config.fish`,
		Action: func(c *cli.Context) error {
			scripts := map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}
			s, ok := scripts[c.Args().First()]
			if c.NArg() != 1 || !ok {
				return usagef("completion needs one of bash, zsh, fish")
			}
			_, err := fmt.Fprint(d.out, s)
			return err
		},
	}
}

// completeCommand answers the scripts: the candidates for the last word.
func completeCommand(d *deps, app func() *cli.App) *cli.Command {
	return &cli.Command{
		Name:            "__complete",
		Hidden:          true,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			for _, w := range complete(app(), c.Args().Slice()) {
				fmt.Fprintln(d.out, w)
			}
			return nil
		},
	}
}

// complete lists the candidates for the last of words (the command line
// after "ops"); none lets the shell complete file names.
func complete(app *cli.App, words []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur := words[len(words)-1]
	var cands []string
	var cmd *cli.Command
	for _, w := range words[:len(words)-1] {
		if strings.HasPrefix(w, "-") {
			continue
		}
		subs := app.Commands
		if cmd != nil {
			subs = cmd.Subcommands
		}
		var next *cli.Command
		for _, c := range subs {
			if c.HasName(w) {
				next = c
			}
		}
		if next == nil {
			break // an argument (a pattern, a playbook…)
		}
		cmd = next
	}
	switch {
	case cmd == nil && strings.HasPrefix(cur, "-"):
		cands = flagNames(app.Flags)
	case cmd == nil:
		cands = commandNames(app.Commands)
	case cmd.Name == "exec" || cmd.Name == "play":
		if strings.HasPrefix(cur, "-") {
			var fs *pflag.FlagSet
			if cmd.Name == "exec" {
				fs = execFlagSet(&execOptions{})
			} else {
				fs = playFlagSet(&playOptions{})
			}
			fs.VisitAll(func(f *pflag.Flag) {
				if !f.Hidden {
					cands = append(cands, "--"+f.Name)
					if f.Shorthand != "" {
						cands = append(cands, "-"+f.Shorthand)
					}
				}
			})
		}
	case cmd.Name == "completion":
		cands = []string{"bash", "zsh", "fish"}
	case len(cmd.Subcommands) > 0 && !strings.HasPrefix(cur, "-"):
		cands = commandNames(cmd.Subcommands)
	case strings.HasPrefix(cur, "-"):
		cands = flagNames(cmd.Flags)
	}
	out := cands[:0]
	for _, c := range cands {
		if strings.HasPrefix(c, cur) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func commandNames(cmds []*cli.Command) []string {
	var out []string
	for _, c := range cmds {
		if !c.Hidden {
			out = append(out, c.Name)
		}
	}
	return out
}

func flagNames(flags []cli.Flag) []string {
	var out []string
	for _, f := range flags {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		for _, n := range f.Names() {
			if len(n) == 1 {
				out = append(out, "-"+n)
			} else {
				out = append(out, "--"+n)
			}
		}
	}
	return out
}

// manCommand prints the man page (make man): every command with its
// usage text, flags and examples, from the same declarations as --help.
func manCommand(d *deps, app func() *cli.App) *cli.Command {
	return &cli.Command{
		Name:   "__man",
		Hidden: true,
		Action: func(c *cli.Context) error {
			page, err := app().ToMan()
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(d.out, page)
			return err
		},
	}
}
