package runlog

import (
	"context"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPlayRecap(t *testing.T) {
	out := []byte(`PLAY RECAP *********
web1                       : ok=2    changed=1    unreachable=0    failed=0    skipped=0
web2                       : ok=0    changed=0    unreachable=1    failed=0    skipped=0
db1                        : ok=1    changed=0    unreachable=0    failed=1    skipped=0
`)
	got := PlayRecap(out)
	want := map[string]string{"web1": "ok", "web2": "unreachable", "db1": "failed"}
	if len(got) != 3 {
		t.Fatalf("%v", got)
	}
	for _, h := range got {
		if want[h.Name] != h.Result {
			t.Errorf("%s: %s", h.Name, h.Result)
		}
	}
	if PlayRecap([]byte("no recap")) != nil {
		t.Error("recap without PLAY RECAP")
	}
}

func git(t *testing.T, dir string, args ...string) string {
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func entry(user, exit string) Entry {
	return Entry{Header: Header{Command: "ops remote true", Argv: []string{"ops", "remote", "true"}, User: user, Host: "h", Exit: exit, Start: time.Now()}, Transcript: []byte("out\n")}
}

func TestRepoCommitsConcurrentlyAndPushesToABareRemote(t *testing.T) {
	ctx := context.Background()
	bare := filepath.Join(t.TempDir(), "remote.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", bare).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	m, _ := NewMask(nil)
	r := &Repo{Dir: filepath.Join(t.TempDir(), "log"), Remote: bare, Branch: "proj"}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, pushErr, err := r.Record(ctx, entry("u", "0"), m); err != nil || pushErr != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := git(t, bare, "rev-list", "--count", "proj"); n != "8" {
		t.Errorf("remote has %s commits", n)
	}
	git(t, r.Dir, "fsck", "--strict")
	list, err := r.List(ctx, ListFilter{N: 5})
	if err != nil || len(list) != 5 || list[0].User != "u" || list[0].Exit != "0" {
		t.Errorf("list %v %v", list, err)
	}
	b, err := r.Show(ctx, list[0].ID)
	if err != nil || !strings.HasPrefix(string(b), "---\ncommand: ops remote true\n") || !strings.HasSuffix(string(b), "---\nout\n") {
		t.Errorf("show: %v %q", err, b)
	}
	// A second clone on the same branch: both push, rebasing over each other.
	r2 := &Repo{Dir: filepath.Join(t.TempDir(), "log2"), Remote: bare, Branch: "proj"}
	if _, _, pushErr, err := r2.Record(ctx, entry("v", "1"), m); err != nil || pushErr != nil {
		t.Fatal(err, pushErr)
	}
	if _, _, pushErr, err := r.Record(ctx, entry("u", "interrupted"), m); err != nil || pushErr != nil {
		t.Fatal(err, pushErr)
	}
	if n := git(t, bare, "rev-list", "--count", "proj"); n != "10" {
		t.Errorf("remote has %s commits after two clones", n)
	}
	if msg := git(t, bare, "log", "-1", "--format=%s", "proj"); msg != "[interrupted] ops remote true" {
		t.Errorf("subject %q", msg)
	}
}

func TestRepoQueuesWhenTheRemoteFails(t *testing.T) {
	ctx := context.Background()
	m, _ := NewMask(nil)
	r := &Repo{Dir: filepath.Join(t.TempDir(), "log"), Remote: filepath.Join(t.TempDir(), "missing.git"), Branch: "b"}
	_, _, pushErr, err := r.Record(ctx, entry("u", "0"), m)
	if err != nil || pushErr == nil {
		t.Fatalf("commit %v, push %v: want a local commit and a push error", err, pushErr)
	}
	if n, _ := r.Pending(ctx); n != 1 {
		t.Errorf("%d pending", n)
	}
	bare := r.Remote
	if out, err := exec.Command("git", "init", "-q", "--bare", bare).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if n, err := r.Push(ctx); err != nil || n != 1 {
		t.Errorf("push after the remote came: %d %v", n, err)
	}
	if n, _ := r.Push(ctx); n != 0 {
		t.Errorf("pushed %d again", n)
	}
}

// ops log list's filters: host, user, failed, since, every project.
func TestListFilters(t *testing.T) {
	ctx := context.Background()
	r := &Repo{Dir: filepath.Join(t.TempDir(), "log"), Branch: "p1"}
	m, _ := NewMask(nil)
	zero, three := 0, 3
	add := func(branch, user, exit string, hosts ...HostResult) {
		r.Branch = branch
		e := entry(user, exit)
		e.Header.Hosts = hosts
		if _, err := r.Save(ctx, e, m); err != nil {
			t.Fatal(err)
		}
	}
	add("p1", "alice", "0", HostResult{Name: "web1", Result: "ok", Exit: &zero})
	add("p1", "bob", "2", HostResult{Name: "web10", Result: "failed", Exit: &three})
	add("p2", "alice", "4", HostResult{Name: "db1", Result: "unreachable"})
	r.Branch = "p1"
	for _, tc := range []struct {
		f    ListFilter
		want string
	}{
		{ListFilter{}, "bob alice"},
		{ListFilter{Host: "web1"}, "alice"},
		{ListFilter{User: "bob"}, "bob"},
		{ListFilter{Failed: true}, "bob"},
		{ListFilter{AllProjects: true, Failed: true}, "alice bob"}, // sorted: the commits share a second
		{ListFilter{AllProjects: true, Host: "db1"}, "alice"},
		{ListFilter{N: 1}, "bob"},
		{ListFilter{Since: time.Now().Add(time.Hour)}, ""},
	} {
		list, err := r.List(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var users []string
		for _, s := range list {
			users = append(users, s.User)
		}
		if tc.f.AllProjects {
			sort.Strings(users)
		}
		if got := strings.Join(users, " "); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.f, got, tc.want)
		}
	}
}
