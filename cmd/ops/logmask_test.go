package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ops-team/ops/cmd/internal/opsconfig"
)

// log.secret_patterns adds to the built-in patterns; only
// log.replace_secret_patterns drops them, and then ops says so on stderr.
func TestLogMaskPatterns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		akia    bool // the built-in AWS key pattern masks
		warning bool
	}{
		{"defaults and mine", map[string]string{"OPS_LOG_SECRET_PATTERNS": "mine[0-9]+"}, true, false},
		{"mine only", map[string]string{"OPS_LOG_SECRET_PATTERNS": "mine[0-9]+", "OPS_LOG_REPLACE_SECRET_PATTERNS": "true"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			cfg, err := opsconfig.Load(opsconfig.Options{Path: os.DevNull, Getenv: getenv})
			if err != nil {
				t.Fatal(err)
			}
			var errb bytes.Buffer
			d := &deps{streams: streams{err: &errb}, getenv: getenv, cfg: cfg}
			m, err := d.logMask()
			if err != nil {
				t.Fatal(err)
			}
			got := m.MaskString("AKIAIOSFODNN7EXAMPLE mine42")
			if strings.Contains(got, "mine42") {
				t.Errorf("my pattern did not mask: %q", got)
			}
			if strings.Contains(got, "AKIA") == tc.akia {
				t.Errorf("built-in patterns on: %v, masked %q", tc.akia, got)
			}
			w := errb.String()
			if tc.warning != (w != "") || tc.warning && (strings.Count(w, "\n") != 1 || !strings.HasPrefix(w, "ops: warning: log.replace_secret_patterns is set (env OPS_LOG_REPLACE_SECRET_PATTERNS)")) {
				t.Errorf("stderr %q", w)
			}
		})
	}
}

// A config file others can write is refused before anything runs: exit 2,
// one line.
func TestUntrustedConfigIsAUsageError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ops.yaml")
	if err := os.WriteFile(p, []byte("image:\n  tag: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runArgs(context.Background(), t, "--config", p, "config")
	if code != 2 || out != "" || strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "ops: config "+p+": not trusted: ") || !strings.Contains(errs, "chmod go-w "+p) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
