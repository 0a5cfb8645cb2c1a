// Package mackerel gives a Mackerel API client (the official
// mackerel-client-go) that retries what is worth retrying, and reads the API
// key of a host's mackerel-agent.conf.
package mackerel

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/BurntSushi/toml"
	mkr "github.com/mackerelio/mackerel-client-go"
)

// DefaultBaseURL is the public API.
const DefaultBaseURL = "https://api.mackerelio.com/"

// Options configure a client.
type Options struct {
	APIKey   string
	BaseURL  string        // DefaultBaseURL when empty
	Attempts int           // tries per request, at least 1; 4 when zero
	Backoff  time.Duration // first wait between tries, doubled each time; 500ms when zero
	MaxWait  time.Duration // cap on one wait, Retry-After included; 30s when zero
	Timeout  time.Duration // connect and response-header timeout per try; 10s when zero
	Log      io.Writer     // one line per retry; silent when nil
}

// NewClient returns the official client over a transport that retries
// 429 (honouring Retry-After), 5xx and network errors a bounded number of times.
func NewClient(o Options) (*mkr.Client, error) {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if o.Attempts <= 0 {
		o.Attempts = 4
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	c, err := mkr.NewClientWithOptions(o.APIKey, o.BaseURL, false)
	if err != nil {
		return nil, fmt.Errorf("mackerel API base %q: %w", o.BaseURL, err)
	}
	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: o.Timeout}).DialContext,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
	}
	c.HTTPClient = &http.Client{Transport: &retrier{base: base, o: o}}
	c.UserAgent = "ops-mackerel-inventory"
	return c, nil
}

type retrier struct {
	base http.RoundTripper
	o    Options
}

func (r *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	wait := r.o.Backoff
	for try := 1; ; try++ {
		resp, err := r.base.RoundTrip(req)
		retry := err != nil || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		if !retry || try >= r.o.Attempts || req.Context().Err() != nil || (req.Body != nil && req.GetBody == nil) {
			return resp, err
		}
		d := wait
		why := ""
		if err != nil {
			why = err.Error()
		} else {
			why = resp.Status
			if resp.StatusCode == http.StatusTooManyRequests {
				if ra, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
					d = ra
				}
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
		}
		d = min(d, r.o.MaxWait)
		if r.o.Log != nil {
			fmt.Fprintf(r.o.Log, "mackerel: %s; retrying in %s (%d/%d)\n", why, d.Round(time.Millisecond), try+1, r.o.Attempts)
		}
		t := time.NewTimer(d)
		select {
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		case <-t.C:
		}
		wait *= 2
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

// retryAfter parses a Retry-After value: seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// DefaultAgentConf is where mackerel-agent keeps its configuration.
const DefaultAgentConf = "/etc/mackerel-agent/mackerel-agent.conf"

// AgentConf reads apikey and apibase (empty when not set) from a
// mackerel-agent.conf (TOML), as mackerel-agent itself does.
func AgentConf(path string) (apiKey, apiBase string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	var conf struct {
		APIKey  string `toml:"apikey"`
		APIBase string `toml:"apibase"`
	}
	if _, err := toml.Decode(string(b), &conf); err != nil {
		return "", "", fmt.Errorf("%s: %w", path, err)
	}
	if conf.APIKey == "" {
		return "", "", fmt.Errorf("%s has no apikey", path)
	}
	return conf.APIKey, conf.APIBase, nil
}

// IsAuthError reports whether the API refused the key.
func IsAuthError(err error) bool {
	var ae *mkr.APIError
	return errors.As(err, &ae) && (ae.StatusCode == http.StatusUnauthorized || ae.StatusCode == http.StatusForbidden)
}
