package opsconfig

import (
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// readTrusted reads a configuration file that only the current user (or
// root) can have written. ops.yaml decides where host keys are checked,
// where transcripts go, what is masked in them and what is passed into the
// container: a file someone else could write is refused (a BadValue, exit
// 2) with the command that fixes it, when it
//
//   - is writable by group or others,
//   - is owned by someone other than the current user or root, or
//   - sits in a world-writable directory (as the path names it, or after
//     symbolic links), sticky bit or not.
//
// A character device (OPS_CONFIG=/dev/null) is read as empty. The checks
// are made on the opened file, so the file read is the file checked.
func readTrusted(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeCharDevice != 0 {
		return nil, nil
	}
	if err := checkTrust(path, fi, os.Getuid()); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// checkTrust says, in one line, why path (whose opened file is fi) is not
// to be trusted by uid and what fixes it; nil if it is.
func checkTrust(path string, fi os.FileInfo, uid int) error {
	var why, fix []string
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		who := "group and others"
		switch {
		case perm&0o002 == 0:
			who = "its group"
		case perm&0o020 == 0:
			who = "others"
		}
		why = append(why, fmt.Sprintf("writable by %s (mode %04o)", who, perm))
		fix = append(fix, "chmod go-w "+shellQuote(path))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != uid && st.Uid != 0 {
		why = append(why, fmt.Sprintf("owned by %s (uid %d), not by you or root", userName(int(st.Uid)), st.Uid))
		fix = append(fix, "chown "+userName(uid)+" "+shellQuote(path))
	}
	dirs := []string{filepath.Dir(path)}
	if real, err := filepath.EvalSymlinks(path); err == nil && filepath.Dir(real) != filepath.Dir(path) {
		dirs = append(dirs, filepath.Dir(real))
	}
	var seen []os.FileInfo
	for _, dir := range dirs {
		di, err := os.Stat(dir)
		if err != nil || di.Mode().Perm()&0o002 == 0 {
			continue
		}
		if len(seen) > 0 && os.SameFile(seen[0], di) {
			continue
		}
		seen = append(seen, di)
		why = append(why, "in the world-writable directory "+dir)
		if di.Mode()&os.ModeSticky != 0 {
			// /tmp and the like: its mode is not this file's to change.
			fix = append(fix, "move it to a directory only you can write")
		} else {
			fix = append(fix, "chmod o-w "+shellQuote(dir))
		}
	}
	if len(why) == 0 {
		return nil
	}
	return bad("config %s: not trusted: %s (anyone who can write it decides where ops connects and logs); fix: %s",
		path, strings.Join(why, ", "), strings.Join(fix, "; "))
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		return u.Username
	}
	return strconv.Itoa(uid)
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./@%+=:,-]+$`)

func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
