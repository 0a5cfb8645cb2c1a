package opsconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A config file someone else could have written is refused: one line (a
// BadValue: exit 2) naming the file and the command that fixes it.
func TestConfigFileTrust(t *testing.T) {
	const nobody = 65534
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, dir, file string) // dir holds file
		found   bool                                 // found upwards, else --config
		want    []string                             // in the error; none: accepted
		fixable bool                                 // applying the advice makes it load
	}{
		{"0644 owned by me", nil, true, nil, false},
		{"0600 owned by me", func(t *testing.T, dir, file string) { chmod(t, file, 0o600) }, false, nil, false},
		{"owned by root", func(t *testing.T, dir, file string) { chown(t, file, 0) }, true, nil, false},
		{"world-writable", func(t *testing.T, dir, file string) { chmod(t, file, 0o666) }, true,
			[]string{"writable by group and others (mode 0666)", "fix: chmod go-w "}, true},
		{"group-writable, named", func(t *testing.T, dir, file string) { chmod(t, file, 0o664) }, false,
			[]string{"writable by its group (mode 0664)", "fix: chmod go-w "}, true},
		{"others-writable only", func(t *testing.T, dir, file string) { chmod(t, file, 0o646) }, false,
			[]string{"writable by others (mode 0646)"}, true},
		{"owned by another user", func(t *testing.T, dir, file string) { chown(t, file, nobody) }, true,
			[]string{"owned by", "(uid 65534), not by you or root", "fix: chown "}, true},
		{"in a world-writable directory", func(t *testing.T, dir, file string) { chmod(t, dir, 0o777) }, true,
			[]string{"in the world-writable directory " + "DIR", "fix: chmod o-w DIR"}, true},
		{"in a sticky world-writable directory", func(t *testing.T, dir, file string) { chmod(t, dir, 0o777|os.ModeSticky) }, false,
			[]string{"in the world-writable directory DIR", "move it to a directory only you can write"}, false},
		{"a link to a file in a world-writable directory", func(t *testing.T, dir, file string) {
			shared := t.TempDir()
			chmod(t, shared, 0o777|os.ModeSticky)
			target := filepath.Join(shared, "real.yaml")
			if err := os.Rename(file, target); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, file); err != nil {
				t.Fatal(err)
			}
		}, true, []string{"in the world-writable directory " + "/"}, false},
		{"everything at once", func(t *testing.T, dir, file string) {
			chmod(t, file, 0o666)
			chown(t, file, nobody)
			chmod(t, dir, 0o777)
		}, true, []string{"mode 0666", "uid 65534", "world-writable directory DIR", "chmod go-w FILE; chown ", "; chmod o-w DIR"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "proj")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			file := write(t, dir, "image:\n  tag: trusted\n")
			chmod(t, file, 0o644)
			if tc.setup != nil {
				tc.setup(t, dir, file)
			}
			opts := Options{Path: file, Getenv: env(nil)}
			if tc.found {
				sub := filepath.Join(dir, "a", "b")
				if err := os.MkdirAll(sub, 0o755); err != nil {
					t.Fatal(err)
				}
				opts = Options{Dir: sub, Getenv: env(nil)}
			}
			c, err := Load(opts)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if c.String("image.tag") != "trusted" || c.File != file {
					t.Errorf("file %q not read: image.tag %q", c.File, c.String("image.tag"))
				}
				return
			}
			var bv *BadValue
			if !errors.As(err, &bv) {
				t.Fatalf("err %v (%T), want a BadValue", err, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config "+file+": not trusted: ") || strings.Contains(msg, "\n") {
				t.Errorf("not one line naming the file: %q", msg)
			}
			for _, w := range tc.want {
				w = strings.NewReplacer("DIR", dir, "FILE", file).Replace(w)
				if !strings.Contains(msg, w) {
					t.Errorf("%q\nlacks %q", msg, w)
				}
			}
			if !tc.fixable {
				return
			}
			// The advice, applied, makes the file load.
			_, fix, _ := strings.Cut(msg, "; fix: ")
			for _, cmd := range strings.Split(fix, "; ") {
				f := strings.Fields(cmd)
				switch f[0] {
				case "chmod":
					chmod(t, f[2], os.FileMode(map[string]uint32{"go-w": 0o644, "o-w": 0o755}[f[1]]))
				case "chown":
					if f[1] != userName(os.Getuid()) {
						t.Errorf("chown to %q, not the current user", f[1])
					}
					chown(t, f[2], os.Getuid())
				default:
					t.Fatalf("advice %q", cmd)
				}
			}
			if _, err := Load(opts); err != nil {
				t.Errorf("after %q: %v", fix, err)
			}
		})
	}
}

// OPS_CONFIG=/dev/null (the tests' and the bench's "no configuration") is a
// character device anyone can write: it is read as empty.
func TestDevNullIsAnEmptyConfig(t *testing.T) {
	for _, o := range []Options{
		{Path: os.DevNull, Getenv: env(nil)},
		{Dir: t.TempDir(), Getenv: env(map[string]string{"OPS_CONFIG": os.DevNull})},
	} {
		c, err := Load(o)
		if err != nil {
			t.Fatal(err)
		}
		if c.File != os.DevNull || c.String("image.tag") != "latest" {
			t.Errorf("file %q, image.tag %q", c.File, c.String("image.tag"))
		}
	}
}

func chmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, p string, uid int) {
	t.Helper()
	if os.Getuid() != 0 && uid != os.Getuid() {
		t.Skip("changing a file's owner needs root")
	}
	if err := os.Lchown(p, uid, -1); err != nil {
		t.Fatal(err)
	}
}

// As a user other than root: a file of that user's or root's is trusted,
// another user's is not.
func TestTrustedOwners(t *testing.T) {
	const me, other = 1000, 65534
	dir := t.TempDir()
	file := write(t, dir, "")
	for owner, ok := range map[int]bool{me: true, 0: true, other: false} {
		chown(t, file, owner)
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		err = checkTrust(file, fi, me)
		if (err == nil) != ok {
			t.Errorf("owner %d, user %d: %v", owner, me, err)
		}
		if err != nil && !strings.Contains(err.Error(), "fix: chown "+userName(me)+" "+file) {
			t.Errorf("advice: %v", err)
		}
	}
}
