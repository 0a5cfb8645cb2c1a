package sshx

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		bad  bool
	}{
		{in: "", want: nil},
		{in: "  -C   -o  X=1 ", want: []string{"-C", "-o", "X=1"}},
		{in: `-o 'User="deploy"'`, want: []string{"-o", `User="deploy"`}},
		{in: `-o "ProxyCommand ssh -W %h:%p b"`, want: []string{"-o", "ProxyCommand ssh -W %h:%p b"}},
		{in: `a\ b "c\"d" 'e\f' x"y"z`, want: []string{"a b", `c"d`, `e\f`, "xyz"}},
		{in: `""`, want: []string{""}},
		{in: `-o 'oops`, bad: true},
		{in: `"oops`, bad: true},
	} {
		got, err := SplitWords(tc.in)
		if tc.bad != (err != nil) || !tc.bad && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitWords(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSSHArgs(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		in   string
		want SSHArgs
		bad  string // part of the error
	}{
		// Ansible's default ssh_args.
		{in: "-C -o ControlMaster=auto -o ControlPersist=60s",
			want: SSHArgs{Ignored: []string{"-C", "ControlMaster=auto", "ControlPersist=60s"}}},
		{in: "-J bastion", want: SSHArgs{Jump: []string{"bastion"}}},
		{in: "-Jops@b1:2222,b2", want: SSHArgs{Jump: []string{"ops@b1:2222", "b2"}}},
		{in: "-o ProxyJump=b1,b2", want: SSHArgs{Jump: []string{"b1", "b2"}}},
		{in: "-o ProxyJump=none -J b", bad: "only one -J"},
		{in: "-J a -J b", bad: "only one -J"},
		{in: "-J b -o ProxyJump=c", want: SSHArgs{Jump: []string{"b"}}},
		{in: "-o 'ProxyJump none'", want: SSHArgs{NoJump: true}},
		{in: "-F ~/.ssh/other -i k1 -o IdentityFile=k2 -ik3", want: SSHArgs{ConfigFile: "~/.ssh/other", Identities: []string{"k1", "k2", "k3"}}},
		{in: "-F first -F last", want: SSHArgs{ConfigFile: "last"}},
		{in: "-p 2222 -o Port=22", want: SSHArgs{Port: 2222}},
		{in: "-p22", want: SSHArgs{Port: 22}},
		{in: "-p 0", bad: "bad Port"},
		{in: "-o Port=x", bad: "bad Port"},
		{in: "-l alice -o User=bob", want: SSHArgs{User: "alice"}},
		{in: `-o 'User="deploy"'`, want: SSHArgs{User: "deploy"}},
		{in: "-o HostName=10.0.0.5", want: SSHArgs{HostName: "10.0.0.5"}},
		{in: "-o StrictHostKeyChecking=no", want: SSHArgs{StrictHostKeyChecking: "no"}},
		{in: "-o StrictHostKeyChecking=off", want: SSHArgs{StrictHostKeyChecking: "no"}},
		{in: "-o StrictHostKeyChecking=accept-new", want: SSHArgs{StrictHostKeyChecking: "accept-new"}},
		{in: "-o 'StrictHostKeyChecking yes' -o StrictHostKeyChecking=no", want: SSHArgs{StrictHostKeyChecking: "yes"}},
		{in: "-o StrictHostKeyChecking=maybe", bad: "StrictHostKeyChecking"},
		{in: "-o UserKnownHostsFile=/dev/null", want: SSHArgs{KnownHostsFiles: []string{"/dev/null"}}},
		{in: `-o "UserKnownHostsFile = ~/a '/b c'"`, want: SSHArgs{KnownHostsFiles: []string{"~/a", "/b c"}}},
		{in: "-A", want: SSHArgs{ForwardAgent: &yes}},
		{in: "-o ForwardAgent=no -A", want: SSHArgs{ForwardAgent: &no}},
		{in: "-o ConnectTimeout=7", want: SSHArgs{ConnectTimeout: 7 * time.Second}},
		{in: "-Cq -vvv -o ServerAliveInterval=30 -o ServerAliveCountMax=3 -o PreferredAuthentications=publickey -o IdentitiesOnly=yes -o LogLevel=ERROR -o ControlPath=/tmp/%C",
			want: SSHArgs{Ignored: []string{"-C", "-q", "-v", "-v", "-v", "ServerAliveInterval=30", "ServerAliveCountMax=3",
				"PreferredAuthentications=publickey", "IdentitiesOnly=yes", "LogLevel=ERROR", "ControlPath=/tmp/%C"}}},
		{in: "-o controlmaster=auto", want: SSHArgs{Ignored: []string{"ControlMaster=auto"}}},
		{in: "-o ProxyCommand='ssh -W %h:%p bastion'", bad: "option ProxyCommand is not supported"},
		{in: "-o HostKeyAlias=x", bad: "option HostKeyAlias is not supported"},
		{in: "-o KexAlgorithms=+diffie-hellman-group1-sha1", bad: "option KexAlgorithms"},
		{in: "-L 8080:localhost:80", bad: "-L is not supported"},
		{in: "-CW host:22", bad: "-W is not supported"},
		{in: "host", bad: `"host" is not an option`},
		{in: "-o", bad: "-o needs a value"},
		{in: "-o User", bad: "has no value"},
		{in: "-o User=ok -o", bad: "-o needs a value"},
		{in: "-o 'User=a b'", bad: "needs one value"},
		{in: "-o 'oops", bad: "unterminated"},
	} {
		got, err := ParseSSHArgs(tc.in)
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("ParseSSHArgs(%q): error %v, want one with %q", tc.in, err, tc.bad)
			}
			continue
		}
		got.jumpSet = false
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseSSHArgs(%q) = %+v, %v\nwant %+v", tc.in, got, err, tc.want)
		}
	}
}

// Ansible's order: ssh_args first, then its own -o for host key checking,
// port, key and user, then the common and extra args; the first wins.
func TestAnsibleSSHArgs(t *testing.T) {
	a, err := AnsibleSSH{
		SSHArgs:    "-C -o ControlMaster=auto -o ControlPersist=60s -o User=fromargs",
		Port:       2200,
		User:       "deploy",
		CommonArgs: "-o ProxyJump=bastion -p 2222 -i k2",
		ExtraArgs:  "-o StrictHostKeyChecking=yes",

		PrivateKeyFile: "k1",
	}.Args()
	if err != nil {
		t.Fatal(err)
	}
	if a.User != "fromargs" || a.Port != 2200 || !reflect.DeepEqual(a.Jump, []string{"bastion"}) ||
		!reflect.DeepEqual(a.Identities, []string{"k1", "k2"}) || a.StrictHostKeyChecking != "no" {
		t.Errorf("%+v", a)
	}
	a, _ = AnsibleSSH{HostKeyChecking: true, ExtraArgs: "-o StrictHostKeyChecking=yes", User: "u"}.Args()
	if a.StrictHostKeyChecking != "yes" || a.User != "u" {
		t.Errorf("%+v", a)
	}
	if _, err := (AnsibleSSH{CommonArgs: "-o ProxyCommand=x"}).Args(); err == nil || !strings.Contains(err.Error(), "ssh_common_args: ") {
		t.Errorf("error %v does not name ssh_common_args", err)
	}
}

// Which -F wins is OpenSSH's to say: ssh -G (it connects to nothing) reads
// two config files given as ParseSSHArgs reads them.
func TestLastConfigFileWinsAsInSSH(t *testing.T) {
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("no ssh:", err)
	}
	dir := t.TempDir()
	first, last := filepath.Join(dir, "first"), filepath.Join(dir, "last")
	os.WriteFile(first, []byte("Host h\n  HostName from-first\n"), 0o600)
	os.WriteFile(last, []byte("Host h\n  HostName from-last\n"), 0o600)
	out, err := exec.Command(sshBin, "-G", "-F", first, "-F", last, "h").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := first
	if strings.Contains(string(out), "hostname from-last") {
		want = last
	}
	a, err := ParseSSHArgs("-F " + first + " -F " + last)
	if err != nil || a.ConfigFile != want {
		t.Errorf("ParseSSHArgs took %q (%v); ssh -G took %q", a.ConfigFile, err, want)
	}
}
