package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	if err := Write(dir, "f.json", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, "f.json", []byte("two")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "f.json"))
	fi, _ := os.Stat(filepath.Join(dir, "f.json"))
	di, _ := os.Stat(dir)
	if string(b) != "two" || fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("%q %v %v", b, fi.Mode(), di.Mode())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestWriteNewLeavesAnExistingFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	if err := WriteNew(dir, "f", []byte("one")); err != nil {
		t.Fatal(err)
	}
	err := WriteNew(dir, "f", []byte("two"))
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: %v, want ErrExist", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "f"))
	fi, _ := os.Stat(filepath.Join(dir, "f"))
	if string(b) != "one" || fi.Mode().Perm() != 0o600 {
		t.Errorf("%q %v", b, fi.Mode())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
}
