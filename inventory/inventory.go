// Package inventory turns Mackerel hosts into an Ansible dynamic inventory.
//
// Groups: <service>, <service>_<role> and status_<status>, as the original
// Ruby script made them. Names are made safe for Ansible, which warns about
// group names that are not valid identifiers: every character other than a
// letter, digit or underscore becomes "_", and a name that starts with a
// digit gets a leading "_". A group whose name would equal a host's name gets
// the suffix "_group". Hosts are keyed by their Mackerel name; when two
// hosts share a name, the one with the smallest ID is kept and the others
// are reported. The Mackerel fields of each host are in one host variable,
// "mackerel", with Mackerel's own field names.
package inventory

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strings"

	mkr "github.com/mackerelio/mackerel-client-go"
)

// Statuses Mackerel knows.
var Statuses = []string{"working", "standby", "maintenance", "poweroff"}

// DefaultStatuses are the API's own default.
var DefaultStatuses = []string{"working", "standby"}

// Filter selects hosts: the API applies all but Exclude.
type Filter struct {
	Service  string
	Roles    []string
	Statuses []string
	Name     string
	Exclude  *regexp.Regexp // on the host name, applied here
}

// Validate checks what the API would refuse or ignore.
func (f Filter) Validate() error {
	if len(f.Roles) > 0 && f.Service == "" {
		return fmt.Errorf("a role filter needs a service")
	}
	for _, s := range f.Statuses {
		if !slices.Contains(Statuses, s) {
			return fmt.Errorf("unknown status %q (one of %s)", s, strings.Join(Statuses, ", "))
		}
	}
	return nil
}

// Param is the API query for the filter.
func (f Filter) Param() *mkr.FindHostsParam {
	st := f.Statuses
	if len(st) == 0 {
		st = DefaultStatuses
	}
	return &mkr.FindHostsParam{Service: f.Service, Roles: slices.Clone(f.Roles), Name: f.Name, Statuses: slices.Clone(st)}
}

// AnsibleHost chooses a host's ansible_host: "name", "customIdentifier",
// "ipv4" (first IPv4 of the first non-virtual interface) or "ipv4:IFACE".
type AnsibleHost string

// ParseAnsibleHost validates a setting.
func ParseAnsibleHost(s string) (AnsibleHost, error) {
	switch {
	case s == "name", s == "customIdentifier", s == "ipv4":
		return AnsibleHost(s), nil
	case strings.HasPrefix(s, "ipv4:") && len(s) > 5:
		return AnsibleHost(s), nil
	}
	return "", fmt.Errorf("unknown ansible_host source %q (name, ipv4, ipv4:IFACE or customIdentifier)", s)
}

var virtualIface = regexp.MustCompile(`^(lo|docker\d*|br-|veth|virbr|cni|flannel|cali|vxlan|tun|tap)`)

func (a AnsibleHost) of(h *mkr.Host) string {
	switch {
	case a == "name":
		return h.Name
	case a == "customIdentifier":
		if h.CustomIdentifier != "" {
			return h.CustomIdentifier
		}
		return h.Name
	}
	want, _ := strings.CutPrefix(string(a), "ipv4:")
	if want == "ipv4" {
		want = ""
	}
	for _, ifc := range h.Interfaces {
		if want != "" && ifc.Name != want || want == "" && virtualIface.MatchString(ifc.Name) {
			continue
		}
		for _, ip := range append([]string{ifc.IPAddress}, ifc.IPv4Addresses...) {
			if p := net.ParseIP(ip); p != nil && p.To4() != nil {
				return ip
			}
		}
	}
	return h.Name
}

// GroupName makes s a name Ansible accepts without a warning.
func GroupName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '_' || r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" || out[0] >= '0' && out[0] <= '9' {
		out = "_" + out
	}
	return out
}

// Group is one inventory group: hosts, or (for all) children.
type Group struct {
	Hosts    []string
	Children []string
}

// MarshalJSON always writes a hosts list, empty or not, so that Ansible
// never mistakes the group for something else.
func (g *Group) MarshalJSON() ([]byte, error) {
	if g.Children != nil {
		return marshal(map[string][]string{"children": g.Children})
	}
	return marshal(map[string][]string{"hosts": nonNil(g.Hosts)})
}

// Inventory is what --list prints.
type Inventory struct {
	Groups   map[string]*Group
	HostVars map[string]map[string]any
	Warnings []string // for stderr
}

// MarshalJSON gives Ansible's script-inventory shape.
func (inv *Inventory) MarshalJSON() ([]byte, error) {
	out := map[string]any{"_meta": map[string]any{"hostvars": inv.HostVars}}
	for name, g := range inv.Groups {
		out[name] = g
	}
	return marshal(out)
}

// Build makes the inventory of the hosts: retired hosts and hosts matching
// exclude are left out.
func Build(hosts []*mkr.Host, exclude *regexp.Regexp, ah AnsibleHost) *Inventory {
	inv := &Inventory{Groups: map[string]*Group{}, HostVars: map[string]map[string]any{}}
	sorted := slices.Clone(hosts)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Name != sorted[j].Name {
			return sorted[i].Name < sorted[j].Name
		}
		return sorted[i].ID < sorted[j].ID
	})
	// Every status group exists, empty or not, so that a pattern such as
	// "web:!status_maintenance" never draws a warning.
	members := map[string][]string{}
	for _, st := range Statuses {
		members["status_"+st] = []string{}
	}
	kept := map[string]string{}
	for _, h := range sorted {
		if h == nil || h.IsRetired || h.Name == "" || exclude != nil && exclude.MatchString(h.Name) {
			continue
		}
		if id, dup := kept[h.Name]; dup {
			inv.Warnings = append(inv.Warnings, fmt.Sprintf("two hosts are named %s (ids %s and %s); keeping %s", h.Name, id, h.ID, id))
			continue
		}
		kept[h.Name] = h.ID
		inv.HostVars[h.Name] = hostVars(h, ah)
		groups := []string{"status_" + h.Status}
		for svc, roles := range h.Roles {
			groups = append(groups, svc)
			for _, r := range roles {
				groups = append(groups, svc+"_"+r)
			}
		}
		for _, g := range groups {
			g = GroupName(g)
			if !slices.Contains(members[g], h.Name) {
				members[g] = append(members[g], h.Name)
			}
		}
	}
	all := &Group{}
	for g, hs := range members {
		name := g
		if _, clash := inv.HostVars[name]; clash {
			name += "_group"
		}
		sort.Strings(hs)
		inv.Groups[name] = &Group{Hosts: hs}
		all.Children = append(all.Children, name)
	}
	sort.Strings(all.Children)
	inv.Groups["all"] = all
	return inv
}

func hostVars(h *mkr.Host, ah AnsibleHost) map[string]any {
	var fullnames []string
	for svc, roles := range h.Roles {
		for _, r := range roles {
			fullnames = append(fullnames, svc+":"+r)
		}
	}
	sort.Strings(fullnames)
	ifaces := make([]map[string]any, 0, len(h.Interfaces))
	for _, i := range h.Interfaces {
		ifaces = append(ifaces, map[string]any{
			"name": i.Name, "ipAddress": i.IPAddress, "ipv4Addresses": nonNil(i.IPv4Addresses),
			"ipv6Addresses": nonNil(i.IPv6Addresses), "macAddress": i.MacAddress,
		})
	}
	meta := map[string]any{"agent-version": h.Meta.AgentVersion}
	if len(h.Meta.Kernel) > 0 {
		meta["kernel"] = h.Meta.Kernel
	}
	if len(h.Meta.CPU) > 0 {
		meta["cpu_count"] = len(h.Meta.CPU)
	}
	if t, ok := h.Meta.Memory["total"]; ok {
		meta["memory_total"] = t
	}
	if h.Meta.Cloud != nil {
		meta["cloud_provider"] = h.Meta.Cloud.Provider
	}
	roles := map[string][]string{}
	for k, v := range h.Roles {
		roles[k] = nonNil(v)
	}
	return map[string]any{
		"ansible_host": ah.of(h),
		"mackerel": map[string]any{
			"id": h.ID, "name": h.Name, "displayName": h.DisplayName, "status": h.Status,
			"roles": roles, "roleFullnames": nonNil(fullnames), "interfaces": ifaces,
			"customIdentifier": h.CustomIdentifier, "memo": h.Memo, "meta": meta,
		},
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
