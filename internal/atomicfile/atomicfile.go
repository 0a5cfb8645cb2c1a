// Package atomicfile writes private files whole or not at all.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write puts data in dir/name (mode 0600, dir created 0700) through a
// temporary file and a rename, so that a reader never sees half of it.
func Write(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, name))
}

// WriteNew is Write that never replaces a file: the temporary file is
// linked to dir/name, which fails (an fs.ErrExist) when name exists, so an
// existing file is left as it was and a reader never sees half of the new one.
func WriteNew(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Link(f.Name(), filepath.Join(dir, name))
}
