package mackerel

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	} {
		got, ok := retryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAgentConfAPIKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	for _, tc := range []struct {
		name, body, key, base, err string
	}{
		{"ok", "pidfile = \"/x\"\napikey = \"abc\"\n[filesystems]\nignore = \"/dev\"\n", "abc", "", ""},
		{"with apibase", "apikey = \"abc\"\napibase = \"http://127.0.0.1:1\"\n", "abc", "http://127.0.0.1:1", ""},
		{"no key", "pidfile = \"/x\"\n", "", "", "has no apikey"},
		{"bad toml", "apikey = abc\n", "", "", "mackerel-agent.conf"},
	} {
		p := write(tc.name+"-mackerel-agent.conf", tc.body)
		key, base, err := AgentConf(p)
		if key != tc.key || base != tc.base || (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %q %q %v", tc.name, key, base, err)
		}
	}
	if _, _, err := AgentConf(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}
