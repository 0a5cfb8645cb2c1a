package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ops-team/ops/internal/fakeecr"
)

func TestParseECRHost(t *testing.T) {
	for host, want := range map[string]string{
		"123456789012.dkr.ecr.ap-northeast-1.amazonaws.com":    "ap-northeast-1",
		"123456789012.dkr.ecr-fips.us-east-1.amazonaws.com":    "us-east-1",
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn":     "cn-north-1",
		"12345.dkr.ecr.us-east-1.amazonaws.com":                "",
		"registry.example.com":                                 "",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.io": "",
	} {
		_, region, ok := ParseECRHost(host)
		if region != want || ok != (want != "") {
			t.Errorf("%s: %q %v", host, region, ok)
		}
	}
	for ref, want := range map[string]string{"ubuntu": "docker.io", "127.0.0.1:5000/x:1": "127.0.0.1:5000", "a.b/c/d": "a.b"} {
		if h, err := Host(ref); err != nil || h != want {
			t.Errorf("Host(%q) = %q %v", ref, h, err)
		}
	}
	if _, err := Host("bad ref!"); err == nil {
		t.Error("a bad reference was accepted")
	}
}

func TestECRTokenAndItsCache(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	fake := &fakeecr.Server{AccessKeyID: "AKIATEST", SecretAccessKey: "s3cret", Region: "us-east-1", Username: "AWS", Password: "pw", ProxyEndpoint: "http://r"}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIATEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3cret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	cache := t.TempDir()
	e := ECR{Region: "us-east-1", Endpoint: srv.URL, CacheDir: cache, Now: clock}
	a, err := e.Auth(context.Background(), "r")
	if err != nil || a.Username != "AWS" || a.Password != "pw" || a.Source != "ECR" {
		t.Fatalf("%+v %v", a, err)
	}
	now = now.Add(5 * time.Hour) // before half of the 12 h life
	if a, _ := e.Auth(context.Background(), "r"); a.Source != "ECR (cached token)" || fake.Calls() != 1 {
		t.Errorf("within half-life: %s, %d calls", a.Source, fake.Calls())
	}
	now = now.Add(2 * time.Hour) // past half
	if a, _ := e.Auth(context.Background(), "r"); a.Source != "ECR" || fake.Calls() != 2 {
		t.Errorf("past half-life: %s, %d calls", a.Source, fake.Calls())
	}
	files, _ := filepath.Glob(filepath.Join(cache, "*.json"))
	for _, f := range files {
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, fi.Mode())
		}
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	if _, err := (ECR{Region: "us-east-1", Endpoint: srv.URL}).Auth(context.Background(), "r"); err == nil {
		t.Error("a wrong secret got a token")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if _, err := (ECR{Region: "us-east-1", Endpoint: srv.URL}).Auth(context.Background(), "r"); err == nil {
		t.Error("no credentials got a token")
	}
}

func TestDockerConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := map[string]any{"auths": map[string]any{"reg.example:5000": map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("bob:pw"))}}}
	b, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600)
	a, err := DockerConfig(dir, "reg.example:5000")
	if err != nil || a.Username != "bob" || a.Password != "pw" {
		t.Errorf("%+v %v", a, err)
	}
	a, err = DockerConfig(dir, "other.example")
	if err != nil || a.Username != "" || a.Source != "none" {
		t.Errorf("unknown registry: %+v %v", a, err)
	}
	enc, _ := a.Encode()
	if _, err := base64.URLEncoding.DecodeString(enc); err != nil {
		t.Errorf("Encode: %v", err)
	}
}
