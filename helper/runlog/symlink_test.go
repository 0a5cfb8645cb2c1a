package runlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A symbolic link pushed to the log's remote (here: the year's directory)
// must not carry later entries out of the clone.
func TestCommitRefusesSymlinksInTheEntryPath(t *testing.T) {
	ctx := t.Context()
	m, _ := NewMask(nil)
	r := &Repo{Dir: filepath.Join(t.TempDir(), "log"), Branch: "b"}
	if _, err := r.Save(ctx, entry("u", "0"), m); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	e := entry("u", "0")
	year := filepath.Join(r.Dir, e.Header.Start.UTC().Format("2006"))
	if err := os.RemoveAll(year); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, year); err != nil {
		t.Fatal(err)
	}
	_, err := r.Save(ctx, e, m)
	if err == nil || !strings.Contains(err.Error(), year) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("commit through a symlinked %s: %v", year, err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("written outside the clone: %v", ents)
	}

	// Deeper: the day's directory is the link.
	os.Remove(year)
	month := filepath.Join(r.Dir, e.Header.Start.UTC().Format("2006/01"))
	os.MkdirAll(month, 0o700)
	day := filepath.Join(month, e.Header.Start.UTC().Format("02"))
	os.Symlink(elsewhere, day)
	if _, err := r.Save(ctx, e, m); err == nil || !strings.Contains(err.Error(), day) {
		t.Errorf("commit through a symlinked %s: %v", day, err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("written outside the clone: %v", ents)
	}
	// The file itself a link to elsewhere.
	os.Remove(day)
	target := filepath.Join(elsewhere, "victim")
	os.MkdirAll(day, 0o700)
	if err := r.writeEntry(e.Header.Start.UTC().Format("2006/01/02")+"/x.log", nil); err != nil {
		t.Fatal(err)
	}
	os.Symlink(target, filepath.Join(day, "y.log"))
	if err := r.writeEntry(e.Header.Start.UTC().Format("2006/01/02")+"/y.log", []byte("x")); err == nil {
		t.Error("wrote through a symlinked file")
	}
	if _, err := os.Lstat(target); err == nil {
		t.Error("the link's target was created")
	}
}
