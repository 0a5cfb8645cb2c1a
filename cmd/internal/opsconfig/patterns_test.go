package opsconfig

import (
	"strings"
	"testing"

	"github.com/ops-team/ops/helper/runlog"
)

// The default secret patterns, as the run log applies them: what they mask
// (keeping the key and the separator) and what they must leave alone.
func TestDefaultSecretPatterns(t *testing.T) {
	m, err := runlog.NewMask(DefaultSecretPatterns())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		// masked
		{"key AKIAIOSFODNN7EXAMPLE here", "key ******** here"},
		{"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = ********"},
		{`"aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"`, `"aws_secret_access_key": "********"`},
		{"password=s3cr3t next", "password=******** next"},
		{"ansible_become_pass=hunter2 ansible_host=10.0.0.1", "ansible_become_pass=******** ansible_host=10.0.0.1"},
		{"ansible_become_password=hunter2", "ansible_become_password=********"},
		{"ansible_ssh_pass=hunter2", "ansible_ssh_pass=********"},
		{"ansible_password=hunter2", "ansible_password=********"},
		{`-e 'ansible_become_pass="with space"'`, `-e 'ansible_become_pass="********"'`},
		{"ANSIBLE_BECOME_PASS=hunter2", "ANSIBLE_BECOME_PASS=********"},
		{"  password: hunter2\n  user: bob\n", "  password: ********\n  user: bob\n"},
		{"db_password: 'correct horse'", "db_password: '********'"},
		{`{"password": "correct horse", "user": "bob"}`, `{"password": "********", "user": "bob"}`},
		{`{"password":"x1"}`, `{"password":"********"}`},
		{"token = abc,def", "token = ********,def"},
		{"GITHUB_TOKEN=ghp_abc123 make", "GITHUB_TOKEN=******** make"},
		{"x-api-key: k3y", "x-api-key: ********"},
		{"api_key=k3y;", "api_key=********;"},
		{"--password=hunter2", "--password=********"},
		{"client_secret=abc==", "client_secret=********"},
		{"password=hunter2\r\n", "password=********\r\n"},
		{"password=hunter2", "password=********"},
		{"PASSWORD=$1", "PASSWORD=********"},
		{"git clone https://bob:s3cr3t@git.example.com/x.git", "git clone https://bob:********@git.example.com/x.git"},
		{"Authorization: Bearer eyJabc.def", "Authorization: Bearer ********"},
		{"password=a token=b", "password=******** token=********"},
		// left alone: code, prompts, words that only contain a key
		{"    passwd = fallback_getpass(prompt, stream)", "    passwd = fallback_getpass(prompt, stream)"},
		{"password = getpass.getpass()", "password = getpass.getpass()"},
		{"password = os.environ['PW']", "password = os.environ['PW']"},
		{"if password == 'x':", "if password == 'x':"},
		{"PASSWORD=$(cat /run/secret)", "PASSWORD=$(cat /run/secret)"},
		{"ansible_become_pass={{ vault_become_pass }}", "ansible_become_pass={{ vault_become_pass }}"},
		{"--- PASS: TestFoo (0.00s)", "--- PASS: TestFoo (0.00s)"},
		{"bypass=1 compass=north", "bypass=1 compass=north"},
		{"password_file=/etc/pw token_file: /x", "password_file=/etc/pw token_file: /x"},
		{"[sudo] password for deploy: \nSorry, try again.", "[sudo] password for deploy: \nSorry, try again."},
		{"BECOME password:\nok: [web1]", "BECOME password:\nok: [web1]"},
		{`"password": ""`, `"password": ""`},
		{"ssh://git@host:22/x", "ssh://git@host:22/x"},
		{"http://host:8080/a@b", "http://host:8080/a@b"},
	} {
		if got := m.MaskString(tc.in); got != tc.want {
			t.Errorf("%q\n → %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestSecretPatternsAddToTheDefaults(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, body string
		env        map[string]string
		want       []string // beyond the defaults
		defaults   bool
		warning    bool
	}{
		{"none", "", nil, nil, true, false},
		{"file adds", "log:\n  secret_patterns: [foo]\n", nil, []string{"foo"}, true, false},
		{"an empty list keeps the defaults", "log:\n  secret_patterns: []\n", nil, nil, true, false},
		{"env adds", "", map[string]string{"OPS_LOG_SECRET_PATTERNS": "a,b"}, []string{"a", "b"}, true, false},
		{"replace", "log:\n  secret_patterns: [foo]\n  replace_secret_patterns: true\n", nil, []string{"foo"}, false, true},
		{"replace from env", "", map[string]string{"OPS_LOG_REPLACE_SECRET_PATTERNS": "true"}, nil, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, dir, tc.body)
			c, err := Load(Options{Path: p, Getenv: env(tc.env)})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			if tc.defaults {
				want = DefaultSecretPatterns()
			}
			want = append(want, tc.want...)
			if got := c.List("log.secret_patterns"); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("patterns %q, want %q", got, want)
			}
			w := c.SecretPatternsWarning()
			if (w != "") != tc.warning {
				t.Errorf("warning %q", w)
			}
			if tc.warning && !strings.Contains(w, "log.replace_secret_patterns") {
				t.Errorf("warning %q does not name the setting", w)
			}
		})
	}
}
