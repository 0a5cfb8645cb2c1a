package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ops-team/ops/cmd/internal/opsconfig"
)

func TestSelectSites(t *testing.T) {
	dir := t.TempDir()
	withSites := filepath.Join(dir, "sites.yaml")
	os.WriteFile(withSites, []byte("sites:\n  east:\n    host: op-e\n  west:\n    host: op-w\n"), 0o600)
	single := filepath.Join(dir, "single.yaml")
	os.WriteFile(single, []byte("server:\n  host: op1\n"), 0o600)
	for _, tc := range []struct {
		file, spec string
		want       string // names ("-" for the unnamed server), or the error
	}{
		{single, "", "-"},
		{single, "east", "error: --site east: no sites are configured"},
		{withSites, "", "east west"},
		{withSites, "all", "east west"},
		{withSites, "west", "west"},
		{withSites, "west,east,west", "west east"},
		{withSites, "north", `error: --site: unknown site "north" (known: east, west)`},
	} {
		cfg, err := opsconfig.Load(opsconfig.Options{Path: tc.file, Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		d := &deps{cfg: cfg}
		sites, err := d.selectSites(tc.spec)
		var got string
		if err != nil {
			got = "error: " + err.Error()
			if code := exitCode(context.Background(), err, io.Discard); code != exitUsage {
				t.Errorf("%s %q: exit %d, want %d", tc.file, tc.spec, code, exitUsage)
			}
		} else {
			var names []string
			for _, s := range sites {
				if s == nil {
					names = append(names, "-")
					if h := d.atSite(s, nil, nil).serverHost(); h != "op1" {
						t.Errorf("the unnamed server's host %q", h)
					}
					continue
				}
				names = append(names, s.Name)
				if h := d.atSite(s, nil, nil).serverHost(); h != "op-"+s.Name[:1] {
					t.Errorf("site %s's host %q", s.Name, h)
				}
			}
			got = strings.Join(names, " ")
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s %q: got %s, want %s", filepath.Base(tc.file), tc.spec, got, tc.want)
		}
	}
}
