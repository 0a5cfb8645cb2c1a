package runlog

import "testing"

func TestMask(t *testing.T) {
	m, err := NewMask([]string{
		`(AKIA|ASIA)[0-9A-Z]{16}`,
		`(?i)(token|password)["']?\s*=\s*["']?[^\s"',]+`,
		`(?i)apikey: (?P<secret>\w+)-(?P<secret>\w+)`,
	})
	if err != nil {
		t.Fatal(err)
	}
	m.AddLiteral("hunter2")
	m.AddLiteral("ab")           // too short to mask
	m.AddLiteral("col\x1b[0mor") // escapes are removed from literals too
	for _, tc := range []struct{ in, want string }{
		{"key AKIAIOSFODNN7EXAMPLE here", "key ******** here"},
		{"password=s3cr3t next", "password=******** next"},
		{`"token": "x"`, `"token": "x"`},
		{"token = abc,def", "token = ********,def"},
		{`token="abc"`, `token="********"`}, // no secret group: the key, separator and opening quote stay
		{"I typed hunter2!", "I typed ********!"},
		{"hunter2hunter2 and password=hunter2", "******** and password=********"},
		{"ab stays", "ab stays"},
		{"apikey: left-right.", "apikey: ********-********."}, // only the groups named secret
		{"col\x1b[1mor", "********"},
		{"\x1b[1mbold\x1b[0m", "bold"},
	} {
		if got := m.MaskString(tc.in); got != tc.want {
			t.Errorf("%q → %q, want %q", tc.in, got, tc.want)
		}
	}
	if _, err := NewMask([]string{"("}); err == nil {
		t.Error("a bad pattern compiled")
	}
}

func TestStripEscapes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain\r\n", "plain\r\n"},
		{"\x1b[0m\x1b[1;31mred\x1b[K\x1b[?25l", "red"},
		{"a\x1b]0;window title\x07b", "ab"},
		{"a\x1b]8;;http://x\x1b\\b\x1b]8;;\x1b\\c", "abc"},
		{"a\x1bPdcs data\x1b\\b", "ab"},
		{"a\x1b(Bb\x1b7c\x1b8d\x1b=e\x1bcf", "abcdef"},
		{"a\x1b[\nb", "a\nb"},        // malformed CSI: the byte stays
		{"a\x1b\nb", "a\nb"},         // ESC before a control character
		{"a\x1b\x1b[1mb", "ab"},      // ESC ESC
		{"a\x1b]0;title\x18b", "ab"}, // CAN cancels a string
		{"unterminated\x1b]0;tit", "unterminated"},
		{"cut\x1b[1", "cut"},
		{"é\x1b[1mü", "éü"},
	} {
		if got := string(StripEscapes([]byte(tc.in))); got != tc.want {
			t.Errorf("%q → %q, want %q", tc.in, got, tc.want)
		}
	}
}
