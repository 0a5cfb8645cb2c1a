package opsconfig

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func write(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, FileName)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestEnvNameRule(t *testing.T) {
	for key, want := range map[string]string{
		"log.dir":              "OPS_LOG_DIR",
		"server.docker_socket": "OPS_SERVER_DOCKER_SOCKET",
		"registry.ecr_region":  "OPS_REGISTRY_ECR_REGION",
	} {
		k, ok := Lookup(key)
		if !ok {
			t.Fatalf("no key %s", key)
		}
		if k.Env() != want {
			t.Errorf("%s: env %s, want %s", key, k.Env(), want)
		}
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := write(t, dir, "image:\n  name: from-file\n  tag: from-file\nlog:\n  enabled: false\n  secret_patterns: [a, b]\ncontainer:\n  mounts: [\"/a:/a\", \"/b:/b\"]\n")
	sub := filepath.Join(dir, "a", "b")
	os.MkdirAll(sub, 0o755)
	tests := []struct {
		name   string
		opts   Options
		key    string
		want   string
		source string
	}{
		{"default", Options{Dir: t.TempDir()}, "image.tag", "latest", "default"},
		{"file found upwards", Options{Dir: sub}, "image.tag", "from-file", file + ":3"},
		{"env beats file", Options{Dir: sub, Getenv: env(map[string]string{"OPS_IMAGE_TAG": "e"})}, "image.tag", "e", "env OPS_IMAGE_TAG"},
		{"flag beats env", Options{Dir: sub, Getenv: env(map[string]string{"OPS_IMAGE_TAG": "e"}), Flags: map[string]string{"image.tag": "f"}, FlagOf: map[string]string{"image.tag": "tag"}}, "image.tag", "f", "flag --tag"},
		{"OPS_CONFIG names the file", Options{Dir: t.TempDir(), Getenv: env(map[string]string{"OPS_CONFIG": file})}, "image.name", "from-file", file + ":2"},
		{"bool from file", Options{Path: file}, "log.enabled", "false", file + ":5"},
		{"list from file", Options{Path: file}, "container.mounts", "/a:/a,/b:/b", file + ":8"},
		{"list from env", Options{Path: file, Getenv: env(map[string]string{"OPS_CONTAINER_ENV": "A, B"})}, "container.env", "A,B", "env OPS_CONTAINER_ENV"},
		{"secret patterns from file add to the defaults", Options{Path: file}, "log.secret_patterns", strings.Join(append(DefaultSecretPatterns(), "a", "b"), ","), file + ":6"},
		{"regex list keeps braces", Options{Dir: t.TempDir(), Getenv: env(map[string]string{"OPS_LOG_SECRET_PATTERNS": `x{1,2},(a,b)`})}, "log.secret_patterns", strings.Join(append(DefaultSecretPatterns(), "x{1,2}", "(a,b)"), ","), "env OPS_LOG_SECRET_PATTERNS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.Getenv == nil {
				tc.opts.Getenv = env(nil)
			}
			c, err := Load(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			v := c.Get(tc.key)
			if v.String() != tc.want || v.Source != tc.source {
				t.Errorf("%s = %q from %q, want %q from %q", tc.key, v.String(), v.Source, tc.want, tc.source)
			}
		})
	}
	c, _ := Load(Options{Dir: t.TempDir(), Getenv: env(nil)})
	if got := c.List("log.secret_patterns"); !slices.Equal(got, DefaultSecretPatterns()) {
		t.Errorf("default secret patterns %q", got)
	}
}

func TestBadFiles(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"unknown key", "server:\n  hots: x\n", `:2: unknown key "server.hots" (did you mean "server.host"?)`},
		{"unknown section", "nope:\n  x: 1\n", `:1: unknown key "nope"`},
		{"leaf given a map", "image:\n  tag:\n    a: b\n", `:2: key "image.tag" must be a single value`},
		{"list given a scalar", "container:\n  env: FOO\n", `:2: key "container.env" must be a list`},
		{"bad bool", "log:\n  enabled: sometimes\n", `:2: key "log.enabled": "sometimes" is not true or false`},
		{"duplicate", "image:\n  tag: a\n  tag: b\n", `:3: key "image.tag" is given twice`},
		{"not a mapping", "- a\n- b\n", `:1: the top level must be a mapping`},
		{"syntax", "image: [\n", `did not find expected node content`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, t.TempDir(), tc.body)
			_, err := Load(Options{Path: p, Getenv: env(nil)})
			var bv *BadValue
			if !errors.As(err, &bv) {
				t.Fatalf("err %v (%T), want a BadValue", err, err)
			}
			if !strings.HasPrefix(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %q, want %q after the file name", err, tc.want)
			}
		})
	}
	if _, err := Load(Options{Path: "/nonexistent/ops.yaml", Getenv: env(nil)}); err == nil {
		t.Error("a named config file that is missing must be an error")
	}
	if _, err := Load(Options{Dir: t.TempDir(), Getenv: env(map[string]string{"OPS_LOG_ENABLED": "perhaps"})}); err == nil {
		t.Error("a bad bool in the environment must be an error")
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	p := write(t, t.TempDir(), "# nothing\n")
	c, err := Load(Options{Path: p, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if c.String("image.tag") != "latest" {
		t.Errorf("image.tag %q", c.String("image.tag"))
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{"": "", "short": "****", "AKIAABCDEFGHIJKLMNOP": "AKIA****"} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}
