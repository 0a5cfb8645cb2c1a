package inventory

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	mkr "github.com/mackerelio/mackerel-client-go"
)

func host(id, name, status string, roles mkr.Roles, ifaces ...mkr.Interface) *mkr.Host {
	return &mkr.Host{ID: id, Name: name, Status: status, Roles: roles, Interfaces: ifaces, CustomIdentifier: "ci-" + id}
}

func fixture() []*mkr.Host {
	retired := host("9", "old1", "working", mkr.Roles{"web": {"app"}})
	retired.IsRetired = true
	return []*mkr.Host{
		host("1", "app1", "working", mkr.Roles{"web": {"app", "api"}, "batch": {"worker"}},
			mkr.Interface{Name: "docker0", IPAddress: "172.17.0.1", IPv4Addresses: []string{"172.17.0.1"}},
			mkr.Interface{Name: "eth0", IPAddress: "10.0.0.1", IPv4Addresses: []string{"10.0.0.1"}, IPv6Addresses: []string{"fe80::1"}}),
		host("2", "app2", "standby", mkr.Roles{"web": {"app"}},
			mkr.Interface{Name: "eth0", IPv6Addresses: []string{"2001:db8::2"}},
			mkr.Interface{Name: "eth1", IPAddress: "10.0.1.2", IPv4Addresses: []string{"10.0.1.2"}}),
		host("3", "db1", "maintenance", mkr.Roles{"my-service": {"db.primary"}, "9lives": {"x"}}),
		host("4", "lonely", "poweroff", nil),
		retired,
		host("0", "app1", "working", mkr.Roles{"web": {"app"}}), // duplicate name, smaller id
	}
}

func TestBuildGroups(t *testing.T) {
	inv := Build(fixture(), nil, "ipv4")
	want := map[string][]string{
		"web":                   {"app1", "app2"},
		"web_app":               {"app1", "app2"},
		"status_working":        {"app1"},
		"status_standby":        {"app2"},
		"status_maintenance":    {"db1"},
		"status_poweroff":       {"lonely"},
		"my_service":            {"db1"},
		"my_service_db_primary": {"db1"},
		"_9lives":               {"db1"},
		"_9lives_x":             {"db1"},
	}
	for g, hosts := range want {
		got, ok := inv.Groups[g]
		if !ok {
			t.Errorf("no group %s", g)
			continue
		}
		if !slices.Equal(got.Hosts, hosts) {
			t.Errorf("group %s: %v, want %v", g, got.Hosts, hosts)
		}
	}
	// app1 is the one with id 0: its roles do not include web_api or batch.
	if _, ok := inv.Groups["web_api"]; ok {
		t.Error("the duplicate host with the larger id leaked into the groups")
	}
	if len(inv.Warnings) != 1 || !strings.Contains(inv.Warnings[0], "two hosts are named app1") {
		t.Errorf("warnings %v", inv.Warnings)
	}
	if _, ok := inv.HostVars["old1"]; ok {
		t.Error("retired host listed")
	}
	all := inv.Groups["all"].Children
	if !slices.IsSorted(all) || len(all) != len(inv.Groups)-1 {
		t.Errorf("all.children %v", all)
	}
}

func TestHostVarsAndAnsibleHost(t *testing.T) {
	hosts := fixture()[:4]
	for _, tc := range []struct {
		src  AnsibleHost
		want map[string]string
	}{
		{"ipv4", map[string]string{"app1": "10.0.0.1", "app2": "10.0.1.2", "db1": "db1"}},
		{"ipv4:docker0", map[string]string{"app1": "172.17.0.1", "app2": "app2"}},
		{"name", map[string]string{"app1": "app1"}},
		{"customIdentifier", map[string]string{"app1": "ci-1"}},
	} {
		inv := Build(hosts, nil, tc.src)
		for h, want := range tc.want {
			if got := inv.HostVars[h]["ansible_host"]; got != want {
				t.Errorf("%s: %s ansible_host %v, want %s", tc.src, h, got, want)
			}
		}
	}
	inv := Build(hosts, nil, "ipv4")
	m := inv.HostVars["app1"]["mackerel"].(map[string]any)
	if !slices.Equal(m["roleFullnames"].([]string), []string{"batch:worker", "web:api", "web:app"}) {
		t.Errorf("roleFullnames %v", m["roleFullnames"])
	}
	if m["id"] != "1" || m["status"] != "working" || m["customIdentifier"] != "ci-1" {
		t.Errorf("mackerel vars %v", m)
	}
	ifs := m["interfaces"].([]map[string]any)
	if len(ifs) != 2 || !slices.Equal(ifs[1]["ipv6Addresses"].([]string), []string{"fe80::1"}) {
		t.Errorf("interfaces %v", ifs)
	}
}

func TestExcludeAndJSONShape(t *testing.T) {
	inv := Build(fixture(), regexp.MustCompile(`^app`), "name")
	if _, ok := inv.HostVars["app1"]; ok {
		t.Error("excluded host listed")
	}
	b, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if string(out["status_working"]) != `{"hosts":[]}` {
		t.Errorf("an emptied status group must still be there with a hosts list: %s", out["status_working"])
	}
	if _, ok := out["web"]; ok {
		t.Errorf("a service group with no host left: %s", out["web"])
	}
	if !strings.Contains(string(out["_meta"]), `"hostvars"`) {
		t.Errorf("_meta %s", out["_meta"])
	}
}

func TestGroupName(t *testing.T) {
	for in, want := range map[string]string{"web": "web", "my-svc": "my_svc", "a.b c": "a_b_c", "1st": "_1st", "ünï": "_n_", "": "_"} {
		if got := GroupName(in); got != want {
			t.Errorf("GroupName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFilterValidate(t *testing.T) {
	if err := (Filter{Roles: []string{"x"}}).Validate(); err == nil {
		t.Error("role without service accepted")
	}
	if err := (Filter{Statuses: []string{"up"}}).Validate(); err == nil {
		t.Error("unknown status accepted")
	}
	if p := (Filter{}).Param(); !slices.Equal(p.Statuses, DefaultStatuses) {
		t.Errorf("default statuses %v", p.Statuses)
	}
}

func TestHostGroupClash(t *testing.T) {
	inv := Build([]*mkr.Host{host("1", "web", "working", mkr.Roles{"web": {"app"}})}, nil, "name")
	if _, ok := inv.Groups["web_group"]; !ok {
		t.Errorf("group named like a host not renamed: %v", inv.Groups)
	}
}
