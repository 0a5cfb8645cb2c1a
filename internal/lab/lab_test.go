package lab

import (
	"strings"
	"testing"
)

func TestPlanAndMackerelHosts(t *testing.T) {
	st := &State{Targets: []Target{{Name: "lab01", Addr: "127.0.1.1"}, {Name: "lab02", Addr: "127.0.1.2"}, {Name: "lab03", Addr: "127.0.1.3"}}}
	hosts := MackerelHosts(st)
	if len(hosts) != 4 || !hosts[3].IsRetired {
		t.Fatalf("want 3 targets and one retired host, got %+v", hosts)
	}
	want := []struct{ status, role string }{{"working", "web"}, {"standby", "db"}, {"maintenance", "web"}}
	for i, w := range want {
		h := hosts[i]
		if h.Status != w.status || h.Roles["lab"][0] != w.role || h.Interfaces[0].IPAddress != st.Targets[i].Addr {
			t.Errorf("host %d: %+v", i, h)
		}
	}
	inv := Inventory(st)
	for _, s := range []string{"lab01 ansible_host=127.0.1.1", "[lab_web]\nlab01\nlab03", "ansible_user=" + TargetUser} {
		if !strings.Contains(inv, s) {
			t.Errorf("inventory lacks %q:\n%s", s, inv)
		}
	}
	if strings.Contains(inv, "lab-retired") {
		t.Error("inventory lists the retired host")
	}
}
