// Package fakemackerel serves Mackerel's GET /api/v0/hosts in its documented
// wire format, with the API key check and the service/role/name/status/
// customIdentifier filters applied as the real API applies them. Tests can
// queue faults (status codes, bodies, delays) to be answered before the data.
package fakemackerel

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Interface is a host's network interface as the API returns it.
type Interface struct {
	Name          string   `json:"name"`
	IPAddress     string   `json:"ipAddress,omitempty"`
	IPv4Addresses []string `json:"ipv4Addresses,omitempty"`
	IPv6Addresses []string `json:"ipv6Addresses,omitempty"`
	MacAddress    string   `json:"macAddress,omitempty"`
}

// Host is one host as the API returns it.
type Host struct {
	ID               string              `json:"id"`
	Name             string              `json:"name"`
	DisplayName      string              `json:"displayName,omitempty"`
	CustomIdentifier string              `json:"customIdentifier,omitempty"`
	Type             string              `json:"type"`
	Memo             string              `json:"memo"`
	Status           string              `json:"status"`
	IsRetired        bool                `json:"isRetired"`
	CreatedAt        int64               `json:"createdAt"`
	Meta             map[string]any      `json:"meta"`
	Roles            map[string][]string `json:"roles"`
	Interfaces       []Interface         `json:"interfaces"`
}

// Fault is one canned answer served instead of the data.
type Fault struct {
	Status int
	Body   string
	Header http.Header
	Delay  time.Duration
}

// Server is an http.Handler for the hosts API.
type Server struct {
	APIKey string
	Hosts  []Host

	mu       sync.Mutex
	faults   []Fault
	requests []url.Values
}

// Inject queues faults, answered in order before normal service resumes.
func (s *Server) Inject(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Requests returns the query of every hosts request received so far.
func (s *Server) Requests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": msg}})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v0/hosts" {
		apiError(w, http.StatusNotFound, "not found")
		return
	}
	if r.Method != http.MethodGet {
		apiError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if r.Header.Get("X-Api-Key") != s.APIKey || s.APIKey == "" {
		apiError(w, http.StatusForbidden, "Authentication failed. Please try again.")
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	s.requests = append(s.requests, q)
	var fault *Fault
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		fault = &f
	}
	s.mu.Unlock()
	if fault != nil {
		select {
		case <-time.After(fault.Delay):
		case <-r.Context().Done():
			return
		}
		for k, v := range fault.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(fault.Status)
		_, _ = w.Write([]byte(fault.Body))
		return
	}
	if len(q["role"]) > 0 && q.Get("service") == "" {
		apiError(w, http.StatusBadRequest, "role requires service")
		return
	}
	statuses := q["status"]
	if len(statuses) == 0 {
		statuses = []string{"working", "standby"}
	}
	out := []Host{}
	for _, h := range s.Hosts {
		if !slices.Contains(statuses, h.Status) {
			continue
		}
		if n := q.Get("name"); n != "" && h.Name != n {
			continue
		}
		if c := q.Get("customIdentifier"); c != "" && h.CustomIdentifier != c {
			continue
		}
		if svc := q.Get("service"); svc != "" {
			roles, ok := h.Roles[svc]
			if !ok {
				continue
			}
			if want := q["role"]; len(want) > 0 && !slices.ContainsFunc(roles, func(r string) bool { return slices.Contains(want, r) }) {
				continue
			}
		}
		out = append(out, h)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"hosts": out})
}
