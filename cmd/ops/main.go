// Command ops runs operations on a fleet from an operation server, inside one
// container image that is the same on the laptop and on the server.
package main

import (
	"os"
)

func main() {
	ctx, hurry, stop := interruptible(os.Stdin, os.Stderr)
	code := run(ctx, os.Args, streams{in: os.Stdin, out: os.Stdout, err: os.Stderr, hurry: hurry})
	stop()
	os.Exit(code)
}
