package opsconfig

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Site is one operation server of several (sites: in ops.yaml): its SSH
// destination, its engine's socket and the share of the hosts it runs
// for (an Ansible host pattern).
type Site struct {
	Name         string
	Host         string
	DockerSocket string
	Share        string
	Source       string // where it was first defined: FILE:LINE or env OPS_SITES_…
}

// siteFields are a site's keys, with their variable suffixes.
var siteFields = []struct{ key, env string }{
	{"host", "HOST"}, {"docker_socket", "DOCKER_SOCKET"}, {"share", "SHARE"},
}

var siteName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

func (s *Site) set(field, v string) {
	switch field {
	case "host":
		s.Host = v
	case "docker_socket":
		s.DockerSocket = v
	case "share":
		s.Share = v
	}
}

// site is the named site, made when first seen.
func (c *Config) site(name, source string) *Site {
	if c.sites == nil {
		c.sites = map[string]*Site{}
	}
	s := c.sites[name]
	if s == nil {
		s = &Site{Name: name, Source: source}
		c.sites[name] = s
	}
	return s
}

// parseSites reads sites: {NAME: {host, docker_socket, share}}.
func (c *Config) parseSites(path string, n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return bad("%s:%d: key \"sites\" must be a mapping of site names", path, n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if !siteName.MatchString(kn.Value) {
			return bad("%s:%d: site name %q: lower-case letters, digits and '-', starting with a letter", path, kn.Line, kn.Value)
		}
		if vn.Kind != yaml.MappingNode {
			return bad("%s:%d: site %q must be a mapping of host, docker_socket, share", path, kn.Line, kn.Value)
		}
		s := c.site(kn.Value, fmt.Sprintf("%s:%d", path, kn.Line))
		seen := map[string]bool{}
		for j := 0; j+1 < len(vn.Content); j += 2 {
			fk, fv := vn.Content[j], vn.Content[j+1]
			known := false
			for _, f := range siteFields {
				known = known || f.key == fk.Value
			}
			if !known {
				return bad("%s:%d: unknown key \"sites.%s.%s\" (a site has host, docker_socket, share)", path, fk.Line, kn.Value, fk.Value)
			}
			if seen[fk.Value] {
				return bad("%s:%d: key \"sites.%s.%s\" is given twice", path, fk.Line, kn.Value, fk.Value)
			}
			seen[fk.Value] = true
			if fv.Kind != yaml.ScalarNode {
				return bad("%s:%d: key \"sites.%s.%s\" must be a single value", path, fk.Line, kn.Value, fk.Value)
			}
			s.set(fk.Value, fv.Value)
		}
	}
	return nil
}

// sitesFromEnv applies OPS_SITES_<NAME>_<FIELD> (NAME upper-cased, '-'
// as '_'), which may also define a site.
func (c *Config) sitesFromEnv(environ []string) error {
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		rest, ok := strings.CutPrefix(k, "OPS_SITES_")
		if !ok || v == "" {
			continue
		}
		matched := false
		for _, f := range siteFields {
			name, ok := strings.CutSuffix(rest, "_"+f.env)
			if !ok || name == "" {
				continue
			}
			n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
			if !siteName.MatchString(n) {
				return bad("%s: site name %q: lower-case letters, digits and '-', starting with a letter", k, n)
			}
			c.site(n, "env "+k).set(f.key, v)
			matched = true
			break
		}
		if !matched {
			return bad("%s: not a site setting (OPS_SITES_<NAME>_HOST, _DOCKER_SOCKET or _SHARE)", k)
		}
	}
	return nil
}

// checkSites refuses what cannot be meant: sites and server.host both
// set, a site without a host.
func (c *Config) checkSites() error {
	if len(c.sites) == 0 {
		return nil
	}
	if h := c.Get("server.host"); h.Raw != "" {
		names := c.SiteNames()
		return bad("server.host (%s) and sites (%s: %s) are both set: use one unnamed server or named sites", h.Source, c.sites[names[0]].Source, strings.Join(names, ", "))
	}
	for _, name := range c.SiteNames() {
		s := c.sites[name]
		if s.Host == "" {
			return bad("site %q (%s) has no host: set sites.%s.host", name, s.Source, name)
		}
		if s.DockerSocket == "" {
			s.DockerSocket = c.String("server.docker_socket")
		}
	}
	return nil
}

// SiteNames are the configured sites' names, sorted.
func (c *Config) SiteNames() []string {
	names := make([]string, 0, len(c.sites))
	for n := range c.sites {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Sites are the configured sites, sorted by name (nil: none, the single
// server.host).
func (c *Config) Sites() []Site {
	var out []Site
	for _, n := range c.SiteNames() {
		out = append(out, *c.sites[n])
	}
	return out
}
