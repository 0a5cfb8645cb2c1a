package inventory

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	mkr "github.com/mackerelio/mackerel-client-go"

	"github.com/ops-team/ops/internal/atomicfile"
)

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Cache keeps API answers in files of their own (mode 0600), one per API
// base, key and query.
type Cache struct {
	Dir string
	Now func() time.Time
}

type entry struct {
	Fetched time.Time   `json:"fetched"`
	Hosts   []*mkr.Host `json:"hosts"`
}

// Key names the cache entry of a query; the API key is only hashed.
func Key(base, apiKey string, p *mkr.FindHostsParam) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", base, apiKey)
	json.NewEncoder(h).Encode(p)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func (c Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c Cache) path(key string) string { return filepath.Join(c.Dir, key+".json") }

// Load returns a cached answer and its age.
func (c Cache) Load(key string) ([]*mkr.Host, time.Duration, error) {
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		return nil, 0, err
	}
	var e entry
	if err := json.Unmarshal(b, &e); err != nil || e.Hosts == nil {
		return nil, 0, fmt.Errorf("cache %s is damaged", c.path(key))
	}
	return e.Hosts, c.now().Sub(e.Fetched), nil
}

// Store writes an answer atomically.
func (c Cache) Store(key string, hosts []*mkr.Host) error {
	b, err := marshal(entry{Fetched: c.now(), Hosts: hosts})
	if err != nil {
		return err
	}
	return atomicfile.Write(c.Dir, key+".json", b)
}
