package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ops-team/ops/internal/fakemackerel"
)

func fixtureHosts() []fakemackerel.Host {
	mk := func(id, name, status string, roles map[string][]string, ip string) fakemackerel.Host {
		return fakemackerel.Host{ID: id, Name: name, Status: status, Roles: roles, Type: "unknown",
			Interfaces: []fakemackerel.Interface{{Name: "eth0", IPAddress: ip, IPv4Addresses: []string{ip}, IPv6Addresses: []string{"fd00::" + id}}}}
	}
	retired := mk("9", "gone", "working", map[string][]string{"shop": {"web"}}, "10.0.0.9")
	retired.IsRetired = true
	return []fakemackerel.Host{
		mk("1", "web1", "working", map[string][]string{"shop": {"web"}}, "10.0.0.1"),
		mk("2", "web2", "maintenance", map[string][]string{"shop": {"web"}}, "10.0.0.2"),
		mk("3", "db1", "standby", map[string][]string{"shop": {"db"}}, "10.0.0.3"),
		mk("4", "job1", "working", map[string][]string{"batch": {"worker"}, "shop": {"web"}}, "10.0.0.4"),
		retired,
	}
}

type result struct {
	code           int
	stdout, stderr string
}

func newFake(t *testing.T) (*fakemackerel.Server, *httptest.Server) {
	t.Helper()
	f := &fakemackerel.Server{APIKey: "good-key", Hosts: fixtureHosts()}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func invoke(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	for _, k := range []string{"MACKEREL_APIKEY", "MACKEREL_API_KEY", "MACKEREL_APIBASE", "MACKEREL_AGENT_CONF",
		"MACKEREL_INVENTORY_SERVICE", "MACKEREL_INVENTORY_ROLES", "MACKEREL_INVENTORY_STATUSES", "MACKEREL_INVENTORY_CACHE_DIR"} {
		t.Setenv(k, vars[k])
		if vars[k] == "" {
			os.Unsetenv(k)
		}
	}
	e := env{stdout: &out, stderr: &errb}
	code := run(context.Background(), append([]string{"mackerel-inventory"}, args...), e)
	return result{code, out.String(), errb.String()}
}

func baseVars(t *testing.T, srv *httptest.Server) map[string]string {
	return map[string]string{
		"MACKEREL_APIKEY":              "good-key",
		"MACKEREL_APIBASE":             srv.URL,
		"MACKEREL_INVENTORY_CACHE_DIR": t.TempDir(),
		"MACKEREL_AGENT_CONF":          filepath.Join(t.TempDir(), "none.conf"),
	}
}

func groups(t *testing.T, stdout string) map[string][]string {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	out := map[string][]string{}
	for k, v := range raw {
		if k == "_meta" || k == "all" {
			continue
		}
		var g struct{ Hosts []string }
		json.Unmarshal(v, &g)
		out[k] = g.Hosts
	}
	return out
}

func TestListAndFiltersSendTheRightQuery(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		query  string
		groups map[string][]string
	}{
		{"default", nil, nil, "status=working&status=standby",
			map[string][]string{"shop": {"db1", "job1", "web1"}, "shop_web": {"job1", "web1"}, "batch_worker": {"job1"}, "status_maintenance": {}}},
		{"service and role flags", []string{"--service", "shop", "--role", "web", "--status", "working", "--status", "maintenance"}, nil,
			"role=web&service=shop&status=working&status=maintenance",
			map[string][]string{"shop_web": {"job1", "web1", "web2"}, "status_maintenance": {"web2"}}},
		{"from the environment", nil, map[string]string{"MACKEREL_INVENTORY_SERVICE": "shop", "MACKEREL_INVENTORY_ROLES": "db,web", "MACKEREL_INVENTORY_STATUSES": "standby"},
			"role=db&role=web&service=shop&status=standby", map[string][]string{"shop_db": {"db1"}}},
		{"name", []string{"--name", "web1"}, nil, "name=web1&status=working&status=standby", map[string][]string{"shop": {"web1"}}},
		{"exclude is applied locally", []string{"--exclude", "^web"}, nil, "status=working&status=standby",
			map[string][]string{"shop": {"db1", "job1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFake(t)
			vars := baseVars(t, srv)
			for k, v := range tc.env {
				vars[k] = v
			}
			r := invoke(t, vars, append([]string{"--list"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			reqs := f.Requests()
			if len(reqs) != 1 || reqs[0].Encode() != tc.query {
				t.Errorf("queries %v, want %s", reqs, tc.query)
			}
			got := groups(t, r.stdout)
			for g, want := range tc.groups {
				if !slices.Equal(got[g], want) && !(len(want) == 0 && len(got[g]) == 0) {
					t.Errorf("group %s = %v, want %v", g, got[g], want)
				}
			}
			if _, ok := got["gone"]; ok || strings.Contains(r.stdout, `"gone"`) {
				t.Error("retired host listed")
			}
		})
	}
}

func TestHostPrintsOneHostsVars(t *testing.T) {
	_, srv := newFake(t)
	r := invoke(t, baseVars(t, srv), "--host", "db1")
	var hv map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &hv) != nil || hv["ansible_host"] != "10.0.0.3" {
		t.Fatalf("--host db1: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = invoke(t, baseVars(t, srv), "--host", "nosuch")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, `no host named "nosuch"`) {
		t.Errorf("unknown host: %+v", r)
	}
}

func TestAPIKeyFromAgentConf(t *testing.T) {
	f, srv := newFake(t)
	vars := baseVars(t, srv)
	delete(vars, "MACKEREL_APIKEY")
	conf := filepath.Join(t.TempDir(), "mackerel-agent.conf")
	os.WriteFile(conf, []byte("# agent\napikey = \"good-key\"\napibase = \""+srv.URL+"\"\n[host_status]\non_start = \"working\"\n"), 0o600)
	vars["MACKEREL_AGENT_CONF"] = conf
	delete(vars, "MACKEREL_APIBASE") // the agent conf's apibase is used
	if r := invoke(t, vars, "--list"); r.code != 0 || len(f.Requests()) != 1 {
		t.Fatalf("key and base from agent conf: %+v", r)
	}
	vars["MACKEREL_APIBASE"] = srv.URL
	vars["MACKEREL_API_KEY"] = "good-key"
	vars["MACKEREL_AGENT_CONF"] = "/nonexistent"
	if r := invoke(t, vars, "--list", "--refresh"); r.code != 0 {
		t.Fatalf("MACKEREL_API_KEY: %+v", r)
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name     string
		faults   []fakemackerel.Fault
		vars     map[string]string
		args     []string
		code     int
		stderr   string
		requests int
	}{
		{"no key", nil, map[string]string{"MACKEREL_APIKEY": ""}, nil, 1, "no Mackerel API key: set MACKEREL_APIKEY, or apikey in", 0},
		{"key rejected", nil, map[string]string{"MACKEREL_APIKEY": "bad"}, nil, 1, "rejected the API key", 0},
		{"5xx retried then given up", []fakemackerel.Fault{{Status: 503}, {Status: 502}, {Status: 500}}, nil, []string{"--attempts", "3"}, 1, "500 Internal Server Error", 3},
		{"5xx then success", []fakemackerel.Fault{{Status: 503}}, nil, nil, 0, "retrying", 2},
		{"timeout", []fakemackerel.Fault{{Status: 200, Delay: 5 * time.Second}}, nil, []string{"--timeout", "200ms"}, 1, "did not answer in time", 1},
		{"malformed JSON", []fakemackerel.Fault{{Status: 200, Body: `{"hosts": [`}}, nil, nil, 1, "malformed answer", 1},
		{"unexpected shape", []fakemackerel.Fault{{Status: 200, Body: `{"items": []}`}}, nil, nil, 1, "no hosts list", 1},
		{"wrong type", []fakemackerel.Fault{{Status: 200, Body: `{"hosts": "many"}`}}, nil, nil, 1, "malformed answer", 1},
		{"role without service", nil, nil, []string{"--role", "web"}, 2, "a role filter needs a service", 0},
		{"bad status", nil, nil, []string{"--status", "up"}, 2, `unknown status "up"`, 0},
		{"bad regexp", nil, nil, []string{"--exclude", "("}, 2, "--exclude: error parsing regexp", 0},
		{"neither list nor host", nil, nil, []string{"--list=false"}, 2, "give exactly one of --list or --host", 0},
		{"bad ansible-host", nil, nil, []string{"--ansible-host", "ip"}, 2, "unknown ansible_host source", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFake(t)
			f.Inject(tc.faults...)
			vars := baseVars(t, srv)
			for k, v := range tc.vars {
				vars[k] = v
			}
			args := append([]string{"--backoff", "1ms"}, tc.args...)
			if !slices.Contains(tc.args, "--list=false") {
				args = append(args, "--list")
			}
			r := invoke(t, vars, args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", r.code, tc.code, r.stderr)
			}
			if tc.code != 0 && r.stdout != "" {
				t.Errorf("stdout must stay empty on failure: %q", r.stdout)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr %q lacks %q", r.stderr, tc.stderr)
			}
			if tc.requests > 0 && len(f.Requests()) != tc.requests {
				t.Errorf("%d requests, want %d", len(f.Requests()), tc.requests)
			}
		})
	}
}

func TestTooManyRequestsHonoursRetryAfter(t *testing.T) {
	f, srv := newFake(t)
	f.Inject(fakemackerel.Fault{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}})
	start := time.Now()
	r := invoke(t, baseVars(t, srv), "--list", "--backoff", "1ms")
	if r.code != 0 || len(f.Requests()) != 2 {
		t.Fatalf("exit %d after %d requests: %s", r.code, len(f.Requests()), r.stderr)
	}
	// Correctness, not speed: the second try must not come before the server allowed it.
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %s, before Retry-After: 1", waited)
	}
	if !strings.Contains(r.stderr, "429 Too Many Requests; retrying in 1s") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestCache(t *testing.T) {
	f, srv := newFake(t)
	vars := baseVars(t, srv)
	first := invoke(t, vars, "--list")
	second := invoke(t, vars, "--list")
	if first.code != 0 || second.code != 0 || first.stdout != second.stdout {
		t.Fatalf("cached answer differs: %+v %+v", first, second)
	}
	if n := len(f.Requests()); n != 1 {
		t.Errorf("%d API calls for two runs within the TTL, want 1", n)
	}
	ents, _ := os.ReadDir(vars["MACKEREL_INVENTORY_CACHE_DIR"])
	for _, e := range ents {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("cache file %s mode %v", e.Name(), info.Mode())
		}
		b, _ := os.ReadFile(filepath.Join(vars["MACKEREL_INVENTORY_CACHE_DIR"], e.Name()))
		if strings.Contains(string(b), "good-key") {
			t.Error("the API key is in the cache")
		}
	}
	if r := invoke(t, vars, "--list", "--refresh"); r.code != 0 || len(f.Requests()) != 2 {
		t.Errorf("--refresh did not call the API: %d calls", len(f.Requests()))
	}
	if r := invoke(t, vars, "--list", "--cache-ttl", "0"); r.code != 0 || len(f.Requests()) != 3 {
		t.Errorf("--cache-ttl 0 did not call the API")
	}
	// The API fails: a stale cache is used only when allowed, and said so.
	f.Inject(fakemackerel.Fault{Status: 503}, fakemackerel.Fault{Status: 503})
	r := invoke(t, vars, "--list", "--refresh", "--attempts", "2", "--backoff", "1ms")
	if r.code != 1 || r.stdout != "" {
		t.Errorf("API down without --allow-stale: %+v", r)
	}
	f.Inject(fakemackerel.Fault{Status: 503}, fakemackerel.Fault{Status: 503})
	r = invoke(t, vars, "--list", "--refresh", "--allow-stale", "--attempts", "2", "--backoff", "1ms")
	if r.code != 0 || r.stdout != first.stdout || !strings.Contains(r.stderr, "warning: using the cached inventory from") {
		t.Errorf("API down with --allow-stale: %+v", r)
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"mackerel-inventory", "--version"}, env{stdout: &out, stderr: &errb})
	if code != 0 || !strings.HasPrefix(out.String(), "mackerel-inventory ") || errb.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}
