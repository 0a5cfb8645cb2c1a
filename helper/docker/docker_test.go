package docker

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestContextIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("b"), 0o600)
	os.WriteFile(filepath.Join(dir, "sub", "run.sh"), []byte("#!/bin/sh\n"), 0o700)
	files, err := Tree(dir, "ctx")
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a, err := Context(files, when)
	if err != nil {
		t.Fatal(err)
	}
	// Same files in another order, touched since: the same bytes.
	os.Chtimes(filepath.Join(dir, "b.txt"), time.Now(), time.Now())
	rev := []File{files[1], files[0]}
	b, _ := Context(rev, when)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the context depends on file order or times")
	}
	tr := tar.NewReader(bytes.NewReader(a.Bytes()))
	want := map[string]int64{"ctx/b.txt": 0o644, "ctx/sub/run.sh": 0o755}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if mode, ok := want[h.Name]; !ok || h.Mode != mode || !h.ModTime.Equal(when) || h.Uid != 0 {
			t.Errorf("%s: mode %o time %v uid %d", h.Name, h.Mode, h.ModTime, h.Uid)
		}
		delete(want, h.Name)
	}
	if len(want) != 0 {
		t.Errorf("missing %v", want)
	}
}
