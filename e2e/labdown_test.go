//go:build labdown

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ops-team/ops/internal/lab"
)

// TestLabDown stops the running lab and proves that nothing it started or
// created is left: no live process, no mount, no user, group, bridge or file.
func TestLabDown(t *testing.T) {
	dir := os.Getenv("OPS_LAB_DIR")
	st, err := lab.Load(dir)
	if err != nil {
		t.Fatalf("the lab must be up for this test: %v", err)
	}
	if !st.Running() {
		t.Fatal("the lab is not fully running")
	}
	if len(lab.Mounts(dir))+len(lab.Mounts(lab.RunDir)) == 0 {
		t.Log("note: no mounts under the lab before down")
	}
	out, err := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops-lab"), "--dir", dir, "down").CombinedOutput()
	if err != nil {
		t.Fatalf("down: %v\n%s", err, out)
	}
	for _, p := range st.Procs {
		if p.Alive() {
			t.Errorf("%s (pid %d) still runs", p.Name, p.Pid)
		}
	}
	// Nothing whose command line points into the lab survives either (containerd, shims).
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		cl := strings.ReplaceAll(string(b), "\x00", " ")
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if strings.Contains(string(stat), ") Z ") {
			continue // exited, waiting for init to reap it
		}
		if strings.Contains(cl, dir+"/") || strings.Contains(cl, lab.RunDir+"/") {
			t.Errorf("process %s still runs: %s", e.Name(), cl)
		}
	}
	if m := append(lab.Mounts(dir), lab.Mounts(lab.RunDir)...); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	for _, u := range []string{lab.OpUser, lab.TargetUser} {
		if exec.Command("id", u).Run() == nil {
			t.Errorf("user %s still exists", u)
		}
		if _, err := os.Stat("/home/" + u); err == nil {
			t.Errorf("home of %s still exists", u)
		}
	}
	if exec.Command("getent", "group", lab.DockerGroup).Run() == nil {
		t.Errorf("group %s still exists", lab.DockerGroup)
	}
	for _, p := range []string{dir, lab.RunDir, lab.SudoersFile, "/sys/class/net/" + lab.Bridge} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s still exists", p)
		}
	}
	// A second down is harmless.
	if out, err := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops-lab"), "--dir", dir, "down").CombinedOutput(); err != nil {
		t.Errorf("second down: %v\n%s", err, out)
	}
	fmt.Fprintln(os.Stderr, "lab down: clean")
}
