package opsconfig

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSites(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        []string
		want       string // the sites as NAME=HOST|SOCKET|SHARE, or the error
	}{
		{"none", "server:\n  host: op1\n", nil, ""},
		{"two", "sites:\n  tokyo:\n    host: op-tyo\n    share: dc_tokyo\n  osaka:\n    host: op-osa\n    docker_socket: /run/d.sock\n    share: dc_osaka\n", nil,
			"osaka=op-osa|/run/d.sock|dc_osaka tokyo=op-tyo|/var/run/docker.sock|dc_tokyo"},
		{"env overrides and defines", "sites:\n  tokyo:\n    host: op-tyo\n", []string{"OPS_SITES_TOKYO_HOST=op-tyo2", "OPS_SITES_DC_2_DOCKER_SOCKET=/s", "OPS_SITES_DC_2_HOST=op3"},
			"dc-2=op3|/s| tokyo=op-tyo2|/var/run/docker.sock|"},
		{"server.host and sites", "server:\n  host: op1\nsites:\n  a:\n    host: op2\n", nil,
			"error: server.host (FILE:2) and sites (FILE:4: a) are both set"},
		{"--server-like env and sites", "sites:\n  a:\n    host: op2\n", []string{"OPS_SERVER_HOST=x"}, "error: server.host (env OPS_SERVER_HOST) and sites"},
		{"no host", "sites:\n  a:\n    share: web\n", nil, `error: site "a" (FILE:2) has no host`},
		{"bad name", "sites:\n  Tokyo:\n    host: x\n", nil, `error: FILE:2: site name "Tokyo"`},
		{"unknown field", "sites:\n  a:\n    hots: x\n", nil, `error: FILE:3: unknown key "sites.a.hots"`},
		{"not a mapping", "sites: [a]\n", nil, `error: FILE:1: key "sites" must be a mapping`},
		{"bad variable", "", []string{"OPS_SITES_A_PORT=22"}, "error: OPS_SITES_A_PORT: not a site setting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, t.TempDir(), tc.yaml)
			env := map[string]string{}
			for _, kv := range tc.env {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			c, err := Load(Options{Path: p, Getenv: func(k string) string { return env[k] }, Environ: func() []string { return tc.env }})
			var got string
			if err != nil {
				var bv *BadValue
				if !errors.As(err, &bv) {
					t.Fatalf("%v is not a BadValue (exit 2)", err)
				}
				got = "error: " + strings.ReplaceAll(err.Error(), p, "FILE")
			} else {
				var parts []string
				for _, s := range c.Sites() {
					parts = append(parts, fmt.Sprintf("%s=%s|%s|%s", s.Name, s.Host, s.DockerSocket, s.Share))
				}
				got = strings.Join(parts, " ")
			}
			if !strings.HasPrefix(got, tc.want) || tc.want == "" && got != "" {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
