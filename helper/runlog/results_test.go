package runlog

import (
	"bytes"
	"strings"
	"testing"
)

func TestPlayRecapIsReadOnlyWhenItEndsTheRun(t *testing.T) {
	recap := "PLAY RECAP *********\n" +
		"web1                       : ok=2    changed=1    unreachable=0    failed=0    skipped=0\n" +
		"db1                        : ok=1    changed=0    unreachable=0    failed=1    skipped=0\n"
	forged := "PLAY RECAP ***\ndb1 : ok=1 changed=0 unreachable=0 failed=0\n"
	for _, tc := range []struct {
		name, transcript string
		want             map[string]string // nil: nothing read
	}{
		{"ansible's recap", "TASK [raw]\nchanged: [web1]\n" + recap + "\n", map[string]string{"web1": "ok", "db1": "failed"}},
		{"then ops's own lines", recap + "\nops: the operation server used the forwarded agent for 2 signature(s)\n", map[string]string{"web1": "ok", "db1": "failed"}},
		{"a terminal's CR LF and colours", strings.ReplaceAll("PLAY RECAP *****\n\x1b[0;32mweb1\x1b[0m : \x1b[0;32mok=2   \x1b[0m changed=0    unreachable=0    \x1b[0;31mfailed=1   \x1b[0m\n\r\n", "\n", "\r\n"), map[string]string{"web1": "failed"}},
		// A target printed a recap (minimal callback, raw output) and the
		// run never reached Ansible's own: Ansible went on after it.
		{"forged, then more output", forged + "fatal: [db1]: FAILED! => {}\n[ERROR]: User interrupted execution\n", nil},
		// The real recap comes after the forged one: the real one counts.
		{"forged, then the real one", forged + "TASK [x]\n" + recap, map[string]string{"web1": "ok", "db1": "failed"}},
		{"not at a line's start", "db1 | PLAY RECAP\ndb1 | db1 : ok=1 changed=0 unreachable=0 failed=0\n", nil},
		// EXEC RECAP is for people; it is never read back, forged or not.
		{"an EXEC RECAP", "EXEC RECAP\nweb1 : ok exit=0\ndb1  : failed exit=1\n", nil},
		{"an EXEC RECAP after ansible's", recap + "EXEC RECAP\ndb1 : ok\n", nil},
		{"nothing", "no recap", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PlayRecap([]byte(tc.transcript))
			if tc.want == nil {
				if got != nil {
					t.Errorf("read %v", got)
				}
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("read %v, want %v", got, tc.want)
			}
			for _, h := range got {
				if tc.want[h.Name] != h.Result {
					t.Errorf("%s: %s, want %s", h.Name, h.Result, tc.want[h.Name])
				}
			}
		})
	}
}

func TestRunsAnsiblePlaybook(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want bool
	}{
		{[]string{"ops", "remote-container", "--", "ansible-playbook", "-i", "inventory.ini", "site.yml"}, true},
		{[]string{"ops", "remote-container", "--copy", "x", "ansible-playbook", "site.yml"}, true},
		{[]string{"ops", "local-container", "/usr/bin/ansible-playbook", "site.yml"}, true},
		{[]string{"ops", "remote-container", "--", "sh", "-c", "test -n x && ansible-playbook -i inventory.ini uptime.yml"}, true},
		{[]string{"ops", "remote", "ansible-playbook site.yml"}, true},
		{[]string{"ops", "remote-container", "--", "ops", "exec", "all", "--", "uptime"}, false},
		{[]string{"ops", "remote-container", "--", "sh", "-c", "echo 'PLAY RECAP'"}, false},
		{[]string{"ops", "remote-container", "--", "ansible-playbooks", "site.yml"}, false},
		{[]string{"ops", "remote-container", "--", "ansible", "all", "-m", "ping"}, false},
		{[]string{"ops"}, false},
	} {
		if got := RunsAnsiblePlaybook(tc.argv); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.argv, got, tc.want)
		}
	}
}

// The trusted channel: only a line marked with the run's nonce is read,
// and it is taken out of the stream; everything else passes as written,
// in whatever pieces it comes.
func TestResultLinesNeedTheNonce(t *testing.T) {
	nonce := NewNonce()
	if len(nonce) != 32 || nonce == NewNonce() {
		t.Fatalf("nonce %q", nonce)
	}
	three := 3
	real := []HostResult{{Name: "web1", Result: "failed", Exit: &three}, {Name: "db1", Result: "unreachable"}}
	fakeOK := []HostResult{{Name: "web1", Result: "ok"}, {Name: "db1", Result: "ok"}}
	other := strings.Repeat("0", 32)
	// What a target may print: a recap, result lines with no nonce, with a
	// guessed one, with the prefix alone, one that is not at a line's start.
	forged := "EXEC RECAP\nweb1 : ok\n" +
		"ops-result::" + string(ResultLine("", fakeOK)[len("ops-result::"):]) +
		string(ResultLine(other, fakeOK)) +
		"ops-result:\n" +
		"web1 | " + string(ResultLine(nonce, fakeOK)) // a target's line, prefixed: it cannot start a line
	prompt := "o" // held back while it may start the marker, released at the end
	stream := "web1 ! boom\n" + forged + "\x1b[K\r" + string(ResultLine(nonce, real)) + "ops exec: done\r\n" + prompt
	want := "web1 ! boom\n" + forged + "\x1b[K\r" + "ops exec: done\r\n" + prompt

	for _, chunk := range []int{len(stream), 1, 7} {
		r := NewResults(nonce)
		var out bytes.Buffer
		f := r.Filter(&out)
		for s := stream; s != ""; {
			n := min(chunk, len(s))
			if k, err := f.Write([]byte(s[:n])); k != n || err != nil {
				t.Fatalf("write %d: %d %v", n, k, err)
			}
			s = s[n:]
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Errorf("chunks of %d: passed\n%q\nwant\n%q", chunk, out.String(), want)
		}
		got := r.Hosts()
		if len(got) != 2 || got[0].Name != "web1" || got[0].Result != "failed" || got[0].Exit == nil || *got[0].Exit != 3 || got[1].Result != "unreachable" || got[1].Exit != nil {
			t.Errorf("chunks of %d: results %+v", chunk, got)
		}
	}

	// No line with the nonce: no results at all (not an empty list).
	r := NewResults(nonce)
	f := r.Filter(&bytes.Buffer{})
	f.Write([]byte(forged))
	f.Close()
	if r.Hosts() != nil {
		t.Errorf("forged lines read: %+v", r.Hosts())
	}
	// A result line cut short (the inner ops died) is dropped, nonce and all.
	var out bytes.Buffer
	f = r.Filter(&out)
	line := ResultLine(nonce, real)
	f.Write(line[:len(line)/2])
	f.Close()
	if out.Len() != 0 || r.Hosts() != nil {
		t.Errorf("a cut line: passed %q, read %+v", out.String(), r.Hosts())
	}
	// Two ops runs in one command: both lines are read, in order.
	r = NewResults(nonce)
	f = r.Filter(&bytes.Buffer{})
	f.Write(append(ResultLine(nonce, real[:1]), ResultLine(nonce, real[1:])...))
	if h := r.Hosts(); len(h) != 2 || h[0].Name != "web1" || h[1].Name != "db1" {
		t.Errorf("two lines: %+v", h)
	}
}
