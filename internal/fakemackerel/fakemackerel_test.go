package fakemackerel

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"testing"

	"github.com/mackerelio/mackerel-client-go"
)

func fixture() []Host {
	return []Host{
		{ID: "1", Name: "web1", Status: "working", Roles: map[string][]string{"svc": {"web"}}, CustomIdentifier: "c1"},
		{ID: "2", Name: "web2", Status: "standby", Roles: map[string][]string{"svc": {"web", "app"}}},
		{ID: "3", Name: "db1", Status: "maintenance", Roles: map[string][]string{"svc": {"db"}}},
		{ID: "4", Name: "batch1", Status: "working", Roles: map[string][]string{"other": {"worker"}}},
		{ID: "5", Name: "off1", Status: "poweroff", Roles: map[string][]string{"svc": {"web"}}},
	}
}

func TestFilters(t *testing.T) {
	s := &Server{APIKey: "k", Hosts: fixture()}
	srv := httptest.NewServer(s)
	defer srv.Close()
	cl, _ := mackerel.NewClientWithOptions("k", srv.URL, false)
	tests := []struct {
		name  string
		param mackerel.FindHostsParam
		want  []string
	}{
		{"default statuses", mackerel.FindHostsParam{}, []string{"batch1", "web1", "web2"}},
		{"service", mackerel.FindHostsParam{Service: "svc"}, []string{"web1", "web2"}},
		{"service and role", mackerel.FindHostsParam{Service: "svc", Roles: []string{"app"}, Statuses: []string{"standby", "working"}}, []string{"web2"}},
		{"roles are a union", mackerel.FindHostsParam{Service: "svc", Roles: []string{"app", "db"}, Statuses: []string{"maintenance", "standby"}}, []string{"db1", "web2"}},
		{"status", mackerel.FindHostsParam{Statuses: []string{"poweroff"}}, []string{"off1"}},
		{"name", mackerel.FindHostsParam{Name: "web1"}, []string{"web1"}},
		{"customIdentifier", mackerel.FindHostsParam{CustomIdentifier: "c1"}, []string{"web1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hosts, err := cl.FindHostsContext(context.Background(), &tc.param)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, h := range hosts {
				names = append(names, h.Name)
			}
			sort.Strings(names)
			if !slices.Equal(names, tc.want) {
				t.Errorf("got %v, want %v", names, tc.want)
			}
		})
	}
	reqs := s.Requests()
	if last := reqs[len(reqs)-1]; last.Get("customIdentifier") != "c1" {
		t.Errorf("recorded query %v", last)
	}
}

func TestAuthAndFaults(t *testing.T) {
	s := &Server{APIKey: "k", Hosts: fixture()}
	srv := httptest.NewServer(s)
	defer srv.Close()
	bad, _ := mackerel.NewClientWithOptions("wrong", srv.URL, false)
	_, err := bad.FindHostsContext(context.Background(), &mackerel.FindHostsParam{})
	var ae *mackerel.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusForbidden {
		t.Errorf("wrong key: %v", err)
	}
	s.Inject(Fault{Status: 503, Body: "down"})
	cl, _ := mackerel.NewClientWithOptions("k", srv.URL, false)
	if _, err := cl.FindHostsContext(context.Background(), &mackerel.FindHostsParam{}); !errors.As(err, &ae) || ae.StatusCode != 503 {
		t.Errorf("injected 503: %v", err)
	}
	if _, err := cl.FindHostsContext(context.Background(), &mackerel.FindHostsParam{}); err != nil {
		t.Errorf("after the fault: %v", err)
	}
	resp, _ := http.Get(srv.URL + "/api/v0/hosts?role=web")
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("no key: %d", resp.StatusCode)
	}
}
