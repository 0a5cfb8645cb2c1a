package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ops log list never shows an empty table for a log it cannot read: one
// line, exit 1. A log never written is empty.
func TestLogListFailuresAreErrors(t *testing.T) {
	notRepo := t.TempDir()
	os.WriteFile(filepath.Join(notRepo, "x"), nil, 0o644)
	for _, tc := range []struct {
		name string
		env  map[string]string
		code int
		want string
	}{
		{"not a repository", map[string]string{"OPS_LOG_DIR": notRepo}, 1, "not a git repository"},
		{"no git", map[string]string{"OPS_LOG_DIR": notRepo, "PATH": t.TempDir()}, 1, "the run log needs git"},
		{"never written", map[string]string{"OPS_LOG_DIR": filepath.Join(t.TempDir(), "none")}, 0, "ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errs := runArgs(context.Background(), t, "log", "list")
			got := errs
			if tc.code == 0 {
				got = out
			}
			if code != tc.code || !strings.Contains(got, tc.want) || tc.code != 0 && (out != "" || strings.Count(errs, "\n") != 1) {
				t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
			}
		})
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"24h":                  now.Add(-24 * time.Hour),
		"2026-11-01":           time.Date(2026, 11, 1, 0, 0, 0, 0, time.Local),
		"2026-11-01T10:00:00Z": time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC),
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	if _, err := parseSince("yesterday", now); err == nil {
		t.Error("yesterday parsed")
	}
}
