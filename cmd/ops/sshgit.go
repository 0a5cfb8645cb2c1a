package main

import (
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/ops-team/ops/helper/sshx"
)

// ssh-git is what git runs as GIT_SSH_COMMAND for the run log's ssh://
// remote: ops's own SSH client, so that no ssh binary is needed. git calls
// it as ssh(1): [-o OPT] [-p PORT] [-4|-6] HOST COMMAND.
func sshGitCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:            "ssh-git",
		Hidden:          true,
		SkipFlagParsing: true,
		Usage:           "ssh transport for git (used by the run log)",
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			port := 0
			var rest []string
			for i := 0; i < len(args); i++ {
				switch a := args[i]; {
				case a == "-o" && i+1 < len(args):
					i++
				case a == "-p" && i+1 < len(args):
					p, err := strconv.Atoi(args[i+1])
					if err != nil {
						return usagef("ssh-git: bad port %q", args[i+1])
					}
					port = p
					i++
				case a == "-4" || a == "-6" || a == "-T":
				default:
					rest = append(rest, a)
				}
			}
			if len(rest) != 2 {
				return usagef("ssh-git: want HOST COMMAND, got %q", rest)
			}
			dest := rest[0]
			if port != 0 {
				dest = "ssh://" + dest + ":" + strconv.Itoa(port)
			}
			client, err := d.dial(c.Context, dest, sshOptions{noAgent: true})
			if err != nil {
				return err
			}
			defer client.Close()
			code, err := client.Run(c.Context, sshx.RunOptions{Cmd: rest[1], Stdin: d.in, Stdout: d.out, Stderr: d.err})
			if err != nil {
				return err
			}
			if code != 0 {
				return commandExit{code: code}
			}
			return nil
		},
	}
}
