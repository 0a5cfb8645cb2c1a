package main

import (
	"io"
	"strings"

	"github.com/ops-team/ops/cmd/internal/opsconfig"
	"github.com/urfave/cli/v2"
)

// siteFlag is --site on the commands that reach operation servers.
func siteFlag() cli.Flag {
	return &cli.StringFlag{Name: "site", Usage: "the operation servers of `NAME[,NAME]|all` of the configured sites (default: all)"}
}

// selectSites resolves --site against the configured sites. Without
// sites, the one unnamed server (server.host) is the only "site": nil.
func (d *deps) selectSites(spec string) ([]*opsconfig.Site, error) {
	sites := d.cfg.Sites()
	if len(sites) == 0 {
		if spec != "" {
			return nil, usagef("--site %s: no sites are configured (sites: in ops.yaml, or OPS_SITES_<NAME>_HOST)", spec)
		}
		return []*opsconfig.Site{nil}, nil
	}
	byName := map[string]*opsconfig.Site{}
	for i := range sites {
		byName[sites[i].Name] = &sites[i]
	}
	if spec == "" || spec == "all" {
		out := make([]*opsconfig.Site, len(sites))
		for i := range sites {
			out[i] = &sites[i]
		}
		return out, nil
	}
	var out []*opsconfig.Site
	seen := map[string]bool{}
	for _, n := range strings.Split(spec, ",") {
		n = strings.TrimSpace(n)
		s, ok := byName[n]
		if !ok {
			return nil, usagef("--site: unknown site %q (known: %s)", n, strings.Join(d.cfg.SiteNames(), ", "))
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// serverHost and serverSocket are the operation server this command
// reaches: its site's, else server.host's.
func (d *deps) serverHost() string {
	if d.site != nil {
		return d.site.Host
	}
	return d.cfg.String("server.host")
}

func (d *deps) serverSocket() string {
	if d.site != nil {
		return d.site.DockerSocket
	}
	return d.cfg.String("server.docker_socket")
}

// atSite is d for one site: its server, its own output.
func (d *deps) atSite(s *opsconfig.Site, out, errw io.Writer) *deps {
	sd := *d
	sd.site = s
	if out != nil {
		sd.out = out
	}
	if errw != nil {
		sd.err = errw
	}
	return &sd
}
