package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ops-team/ops/cmd/internal/opsconfig"
	"github.com/ops-team/ops/helper/docker"
)

func TestContainerMounts(t *testing.T) {
	conf := "/etc/mackerel-agent/mackerel-agent.conf"
	tests := []struct {
		name    string
		yaml    string // "" : no file
		there   bool   // the server has conf
		askErr  error
		want    []docker.ReadOnlyMount
		asked   bool
		wantErr string
	}{
		{"not configured, the server has the conf", "", true, nil, []docker.ReadOnlyMount{{Source: conf, Target: conf}}, true, ""},
		{"not configured, the server has none: nothing mounted", "", false, nil, nil, true, ""},
		{"not configured, the server cannot be asked", "", false, errors.New("lost"), nil, true, "look for " + conf + " on the operation server: lost"},
		{"configured empty: nothing, not asked", "container:\n  mounts: []\n", true, nil, nil, false, ""},
		{"configured: as given, not asked", "container:\n  mounts: [\"/srv/m.conf:" + conf + "\"]\n", true, nil, []docker.ReadOnlyMount{{Source: "/srv/m.conf", Target: conf}}, false, ""},
		{"configured wrong", "container:\n  mounts: [\"relative:/x\"]\n", true, nil, nil, false, `container.mounts: "relative:/x" is not HOSTPATH:CONTAINERPATH`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := opsconfig.Options{Dir: t.TempDir(), Getenv: func(string) string { return "" }}
			if tc.yaml != "" {
				o.Path = filepath.Join(t.TempDir(), "ops.yaml")
				os.WriteFile(o.Path, []byte(tc.yaml), 0o600)
			}
			cfg, err := opsconfig.Load(o)
			if err != nil {
				t.Fatal(err)
			}
			d := &deps{cfg: cfg}
			asked := false
			got, err := d.containerMounts(func(p string) (bool, error) {
				asked = true
				if p != conf {
					t.Errorf("asked for %s", p)
				}
				return tc.there, tc.askErr
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) || asked != tc.asked {
				t.Errorf("mounts %v err %v asked %v; want %v asked %v", got, err, asked, tc.want, tc.asked)
			}
			// Before connecting (nil): only the configured ones are checked.
			if pre, err := d.containerMounts(nil); err != nil || tc.asked && pre != nil {
				t.Errorf("without the server: %v %v", pre, err)
			}
		})
	}
}
