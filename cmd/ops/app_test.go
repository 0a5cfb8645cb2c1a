package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

func runArgs(ctx context.Context, t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	t.Setenv("OPS_CONFIG", "")
	if !strings.HasPrefix(os.Getenv("XDG_CONFIG_HOME"), os.TempDir()) {
		t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // not the tester's own file
	}
	t.Chdir(t.TempDir())
	code := run(ctx, append([]string{"ops"}, args...), streams{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"version", []string{"version"}, 0, "ops ", ""},
		{"config", []string{"config"}, 0, "image.tag", ""},
		{"unknown command", []string{"nope"}, 2, "", `ops: unknown command "nope"`},
		{"unknown flag", []string{"--nope"}, 2, "", "ops: flag provided but not defined"},
		{"extra argument", []string{"version", "x"}, 2, "", "ops: version takes no arguments"},
		{"flag value checked", []string{"--tag", "t", "config"}, 0, "flag --tag", ""},
		{"exec handshakes below 0", []string{"exec", "--handshakes", "-1", "all", "--", "true"}, 2, "", "ops: exec: --handshakes must be 0 (adaptive) or more"},
		{"exec forks 0", []string{"exec", "-f", "0", "all", "--", "true"}, 2, "", "ops: exec: --forks must be at least 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runArgs(context.Background(), t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errs)
			}
			if !strings.Contains(out, tc.stdout) {
				t.Errorf("stdout %q lacks %q", out, tc.stdout)
			}
			if tc.stderr == "" && errs != "" || !strings.Contains(errs, tc.stderr) {
				t.Errorf("stderr %q, want %q", errs, tc.stderr)
			}
		})
	}
}

func TestExitCodeMapping(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	bySignal := func(sig syscall.Signal) context.Context {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(interrupt{sig})
		return ctx
	}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		code int
		line string
	}{
		{"ok", context.Background(), nil, 0, ""},
		{"wrapped command passes through", context.Background(), commandExit{code: 42}, 42, ""},
		{"wrapped even when interrupted", canceled, commandExit{code: 3}, 3, ""},
		{"interrupt", canceled, errors.New("x"), 130, "ops: interrupted\n"},
		{"Ctrl-C", bySignal(syscall.SIGINT), context.Canceled, 130, "ops: interrupted\n"},
		{"SIGTERM", bySignal(syscall.SIGTERM), context.Canceled, 143, "ops: terminated (SIGTERM)\n"},
		{"SIGHUP", bySignal(syscall.SIGHUP), errors.New("x"), 129, "ops: hung up (SIGHUP)\n"},
		{"interrupted after the command was done", bySignal(syscall.SIGINT), nil, 130, "ops: interrupted\n"},
		{"usage", context.Background(), usagef("bad %s", "flag"), 2, "ops: bad flag\n"},
		{"failure", context.Background(), errors.New("boom"), 1, "ops: boom\n"},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		if got := exitCode(tc.ctx, tc.err, &b); got != tc.code || b.String() != tc.line {
			t.Errorf("%s: code %d line %q, want %d %q", tc.name, got, b.String(), tc.code, tc.line)
		}
	}
}
