package sshx

import "testing"

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{"abc": "abc", "a b": "'a b'", "it's": `'it'\''s'`, "": "''", "/x/y:1": "/x/y:1", "$HOME": "'$HOME'"} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cd /tmp && ls"}, "cd /tmp && ls"},
		{[]string{"sh", "-c", "echo a b"}, "sh -c 'echo a b'"},
		{[]string{"echo", "$HOME"}, "echo '$HOME'"},
	} {
		if got := CommandLine(tc.args); got != tc.want {
			t.Errorf("CommandLine(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}
