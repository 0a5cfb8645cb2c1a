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

func TestUserFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"XDG_CONFIG_HOME", map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/x/ops/config.yaml"},
		{"HOME", map[string]string{"HOME": "/h"}, "/h/.config/ops/config.yaml"},
		{"a relative XDG_CONFIG_HOME is ignored", map[string]string{"XDG_CONFIG_HOME": "rel", "HOME": "/h"}, "/h/.config/ops/config.yaml"},
		{"neither", nil, ""},
	} {
		if got := UserFile(env(tc.env)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestUserFilePrecedence(t *testing.T) {
	xdg := t.TempDir()
	os.MkdirAll(filepath.Join(xdg, "ops"), 0o700)
	user := filepath.Join(xdg, "ops", "config.yaml")
	if err := os.WriteFile(user, []byte("server:\n  host: from-user\nimage:\n  tag: from-user\n  name: from-user\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	proj := t.TempDir()
	project := write(t, proj, "image:\n  tag: from-project\n")
	other := write(t, t.TempDir(), "image:\n  name: from-named\n")
	xdgEnv := map[string]string{"XDG_CONFIG_HOME": xdg}
	home := t.TempDir()
	homeFile := filepath.Join(home, ".config", "ops", "config.yaml")
	os.MkdirAll(filepath.Dir(homeFile), 0o700)
	os.WriteFile(homeFile, []byte("image:\n  tag: from-home\n"), 0o600)
	with := func(kv ...string) map[string]string {
		m := map[string]string{"XDG_CONFIG_HOME": xdg}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		opts   Options
		env    map[string]string
		key    string
		want   string
		source string
		files  []string
	}{
		{"user file alone", Options{Dir: t.TempDir()}, xdgEnv, "image.tag", "from-user", user + ":4", []string{user}},
		{"user file under HOME", Options{Dir: t.TempDir()}, map[string]string{"HOME": home}, "image.tag", "from-home", homeFile + ":2", []string{homeFile}},
		{"project beats user", Options{Dir: proj}, xdgEnv, "image.tag", "from-project", project + ":2", []string{project, user}},
		{"user fills what project leaves", Options{Dir: proj}, xdgEnv, "server.host", "from-user", user + ":2", []string{project, user}},
		{"env beats both", Options{Dir: proj}, with("OPS_IMAGE_TAG", "e"), "image.tag", "e", "env OPS_IMAGE_TAG", []string{project, user}},
		{"flag beats env", Options{Dir: proj, Flags: map[string]string{"image.tag": "f"}, FlagOf: map[string]string{"image.tag": "tag"}}, with("OPS_IMAGE_TAG", "e"), "image.tag", "f", "flag --tag", []string{project, user}},
		{"--config bypasses both", Options{Dir: proj, Path: other}, xdgEnv, "server.host", "", "default", []string{other}},
		{"OPS_CONFIG bypasses both", Options{Dir: proj}, with("OPS_CONFIG", other), "image.tag", "latest", "default", []string{other}},
		{"OPS_CONFIG's file is read", Options{Dir: proj}, with("OPS_CONFIG", other), "image.name", "from-named", other + ":2", []string{other}},
		{"Options.UserFile names it", Options{Dir: t.TempDir(), UserFile: user}, nil, "image.name", "from-user", user + ":5", []string{user}},
		{"no files", Options{Dir: t.TempDir()}, with("XDG_CONFIG_HOME", t.TempDir()), "image.tag", "latest", "default", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Getenv = env(tc.env)
			c, err := Load(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			v := c.Get(tc.key)
			if v.String() != tc.want || v.Source != tc.source {
				t.Errorf("%s = %q from %q, want %q from %q", tc.key, v.String(), v.Source, tc.want, tc.source)
			}
			if !slices.Equal(c.Files, tc.files) {
				t.Errorf("files %q, want %q", c.Files, tc.files)
			}
			if want := ""; len(tc.files) > 0 && c.File != tc.files[0] || len(tc.files) == 0 && c.File != want {
				t.Errorf("File %q, want the first of %q", c.File, tc.files)
			}
		})
	}
}

func TestBadUserFile(t *testing.T) {
	xdg := t.TempDir()
	os.MkdirAll(filepath.Join(xdg, "ops"), 0o700)
	user := filepath.Join(xdg, "ops", "config.yaml")
	os.WriteFile(user, []byte("server:\n  hots: x\n"), 0o600)
	_, err := Load(Options{Dir: t.TempDir(), Getenv: env(map[string]string{"XDG_CONFIG_HOME": xdg})})
	var bv *BadValue
	if !errors.As(err, &bv) || !strings.HasPrefix(err.Error(), user+":2:") {
		t.Errorf("err %v, want a BadValue naming %s:2", err, user)
	}
	os.Chmod(user, 0o666)
	if _, err := Load(Options{Dir: t.TempDir(), Getenv: env(map[string]string{"XDG_CONFIG_HOME": xdg})}); !errors.As(err, &bv) || !strings.Contains(err.Error(), "not trusted") {
		t.Errorf("a user file others can write: %v", err)
	}
}
