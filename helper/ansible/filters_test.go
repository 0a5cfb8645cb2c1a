package ansible

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// The differential test of the filters and tests: every expression
// templated by ansible-core's own Templar (one Python process) and by a
// Templar with AnsibleFilters, compared as Python's str() of the result
// (None as None), errors as errors. The same process also splits module
// arguments with parse_kv.

const filtersOracle = `
import json, sys
from ansible.template import Templar
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.splitter import parse_kv
from ansible.utils.display import Display
Display().verbosity = -1
data = json.load(sys.stdin)
t = Templar(loader=DataLoader(), variables=data["vars"])
out = []
for e in data["exprs"]:
    try:
        out.append({"v": t.template(e, convert_data=False)})
    except Exception as ex:
        out.append({"e": "%s: %s" % (type(ex).__name__, ex)})
kv = []
for s, raw in data["kv"]:
    try:
        kv.append({"v": parse_kv(s, check_raw=raw)})
    except Exception as ex:
        kv.append({"e": str(ex)})
from ansible.playbook.conditional import Conditional
conds = []
for c in data["conds"]:
    cd = Conditional(loader=DataLoader())
    cd.when = [c]
    try:
        conds.append({"v": cd.evaluate_conditional(t, data["vars"])})
    except Exception as ex:
        conds.append({"e": str(ex)})
json.dump({"exprs": out, "kv": kv, "conds": conds}, sys.stdout)
`

var filterVars = map[string]any{
	"s": "Hello World", "sp": "  pad \t\n", "n": 42, "f": 3.5, "neg": -7, "t": true, "fa": false, "none": nil,
	"lst": []any{1, "two", 3.5}, "empty": []any{}, "estr": "", "d": map[string]any{"a": 1, "b": "x"},
	"yes_s": "yes", "on_s": "On", "one_s": "1", "true_s": "TRUE", "no_s": "no", "num_s": " 12 ", "fs": "42.7",
	"bad": "abc", "hex": "0x1F", "under": "1_000", "exp": "1e3",
	"ok_r":    map[string]any{"changed": false, "failed": false, "rc": 0},
	"fail_r":  map[string]any{"failed": true, "rc": 1, "changed": true},
	"skip_r":  map[string]any{"skipped": true, "changed": false},
	"loop_r":  map[string]any{"results": []any{map[string]any{"changed": false}, map[string]any{"changed": true}}},
	"bare_r":  map[string]any{"rc": 0},
	"quote_s": `it's a "test"`, "uni": "héllo ✓", "path": "/usr/local/bin", "multi": "line1\nline2\nfoo=bar\n",
	"tmpl": "{{ s | lower }}", "ver": "version 1.2.3 build 45", "words": []any{"b", "a", "c"},
}

var filterExprs = []string{
	// default
	"{{ missing | default('dflt') }}", "{{ missing | d('x') }}", "{{ none | default('x') }}", "{{ none | default('x', true) }}",
	"{{ estr | default('x') }}", "{{ estr | default('x', true) }}", "{{ fa | default('x', true) }}", "{{ d.nokey | default('k') }}",
	"{{ missing.sub | default('deep') }}", "{{ s | default('x') }}", "{{ missing | default(lst) }}", "{{ missing | default() }}",
	"{{ n | default(1, boolean=true) }}",
	// bool
	"{{ yes_s | bool }}", "{{ on_s | bool }}", "{{ one_s | bool }}", "{{ true_s | bool }}", "{{ no_s | bool }}", "{{ bad | bool }}",
	"{{ 1 | bool }}", "{{ 0 | bool }}", "{{ 2 | bool }}", "{{ 1.0 | bool }}", "{{ none | bool }}", "{{ t | bool }}", "{{ lst | bool }}",
	"{{ 'y' | bool }}",
	// int
	"{{ num_s | int }}", "{{ fs | int }}", "{{ bad | int }}", "{{ bad | int(5) }}", "{{ f | int }}", "{{ t | int }}",
	"{{ hex | int(0, 16) }}", "{{ under | int }}", "{{ exp | int }}", "{{ none | int }}", "{{ lst | int }}", "{{ '-3' | int }}",
	"{{ '0x1F' | int }}", "{{ 'ff' | int(base=16) }}", "{{ '1_0' | int(0, 0) }}",
	// string, lower, upper, trim
	"{{ n | string }}", "{{ f | string }}", "{{ t | string }}", "{{ none | string }}", "{{ lst | string }}", "{{ d | string }}",
	"{{ s | lower }}", "{{ s | upper }}", "{{ n | lower }}", "{{ t | upper }}", "{{ uni | upper }}", "{{ sp | trim }}",
	"{{ 'xxaxx' | trim('x') }}", "{{ n | trim }}", "{{ tmpl | upper }}",
	// join, length, first, last
	"{{ words | join }}", "{{ words | join(', ') }}", "{{ lst | join('-') }}", "{{ s | join('.') }}", "{{ d | join(',') }}",
	"{{ empty | join(',') }}", "{{ s | length }}", "{{ lst | length }}", "{{ d | length }}", "{{ uni | length }}", "{{ empty | length }}",
	"{{ n | length }}", "{{ missing | length }}", "{{ lst | first }}", "{{ lst | last }}", "{{ s | first }}", "{{ s | last }}",
	"{{ empty | first }}", "{{ words | sort | first }}",
	// regex_search, regex_replace
	"{{ ver | regex_search('[0-9]+\\.[0-9]+') }}", "{{ ver | regex_search('nomatch') }}", "{{ ver | regex_search('(\\d+)\\.(\\d+)', '\\1', '\\2') }}",
	"{{ ver | regex_search('(?P<maj>\\d+)\\.', '\\g<maj>') }}", "{{ ver | regex_search('VERSION', ignorecase=true) }}",
	"{{ multi | regex_search('^line2', multiline=true) }}", "{{ multi | regex_search('^line2') }}", "{{ n | regex_search('4') }}",
	"{{ s | regex_replace('o', '0') }}", "{{ s | regex_replace('(\\w+) (\\w+)', '\\2 \\1') }}", "{{ s | regex_replace('(?P<a>W)', '[\\g<a>]') }}",
	"{{ s | regex_replace('world', 'X', ignorecase=true) }}", "{{ multi | regex_replace('^l', 'L', multiline=true) }}",
	"{{ path | regex_replace('/', '\\\\') }}", "{{ s | regex_replace('l+', '') }}", "{{ s | regex_replace('(x)?o', '[\\1]') }}",
	"{{ s | regex_replace('$', '!') }}", "{{ s | regex_replace('^', '> ') }}", "{{ s | regex_replace('o', '\\n') }}",
	"{{ s | regex_replace('o', '$1') }}",
	// quote, to_json
	"{{ s | quote }}", "{{ quote_s | quote }}", "{{ path | quote }}", "{{ estr | quote }}", "{{ n | quote }}", "{{ none | quote }}",
	"{{ 'a@b%c+d=e:f,g.h/i-j_k' | quote }}", "{{ uni | quote }}",
	"{{ d | to_json }}", "{{ lst | to_json }}", "{{ uni | to_json }}", "{{ none | to_json }}", "{{ t | to_json }}", "{{ f | to_json }}",
	"{{ quote_s | to_json }}", "{{ multi | to_json }}", "{{ d | to_json(indent=2) }}", "{{ lst | to_json(indent=4) }}",
	"{{ uni | to_json(ensure_ascii=false) }}", "{{ d | to_json(sort_keys=true) }}",
	// tests
	"{{ s is defined }}", "{{ missing is defined }}", "{{ missing is undefined }}", "{{ none is defined }}", "{{ d.a is defined }}",
	"{{ d.z is defined }}", "{{ d.z is undefined }}", "{{ s is not defined }}",
	"{{ ok_r is failed }}", "{{ fail_r is failed }}", "{{ ok_r is succeeded }}", "{{ fail_r is success }}", "{{ fail_r is not failed }}",
	"{{ ok_r is changed }}", "{{ fail_r is changed }}", "{{ loop_r is changed }}", "{{ bare_r is change }}", "{{ skip_r is skipped }}",
	"{{ ok_r is skip }}", "{{ bare_r is failed }}", "{{ s is failed }}", "{{ missing is failed }}",
	"{{ s is match('Hello') }}", "{{ s is match('World') }}", "{{ s is search('World') }}", "{{ s is search('^World') }}",
	"{{ s is match('hello') }}", "{{ s is not search('xyz') }}", "{{ n is match('4') }}", "{{ multi is search('^line2$') }}",
	// combinations
	"{{ lst | length > 2 and s is search('o') }}", "{{ (num_s | int) + 1 }}", "{{ words | join(',') | upper | quote }}",
	"prefix {{ s | lower }} {{ n | string }} suffix", "{{ missing | default(none) | string }}",
	"{{ ok_r.rc == 0 and ok_r is not failed }}",
	// string literals: as written inside {{ }}, Python escapes inside {% %}
	"{{ 'a\\nb' }}", "{{ 'a\\nb' | length }}", "{% set x = 'a\\nb' %}{{ x | length }}", "{% if s | regex_search('\\w+ ') %}yes{% endif %}",
	"{% set x = '\\d\\1\\x41\\u00e9\\\\' %}{{ x | to_json }}", "{{ '\\d\\1\\x41\\\\' | to_json }}", "{{ \"it's\" }}",
	"{{ s | regex_replace('o', '\\\\') }}", "{{ 'C:\\dir\\' | length }}", "{{ 'x' ~ \"\\\\\" ~ 'y' }}",
	"{# a comment with \\ #}{{ 'c\\d' }}", "{% raw %}{{ '\\d' }}{% endraw %}", "text \\d {{ '\\.' }}",
}

var condCases = []string{
	"True", "False", "", "n == 42", "n > 50", "s is search('World')", "s is match('World')", "ok_r is failed", "fail_r is failed",
	"ok_r is not failed and ok_r.rc == 0", "missing is defined", "missing is undefined", "missing", "lst", "empty", "estr",
	"t", "fa", "yes_s | bool", "none", "'\\d' in 'a\\db'", "s | regex_search('\\w+ ')", "{{ t }}", "{{ n > 1 }}",
	"num_s | int == 12 and fs | int == 42", "'x' in words", "'a' in words", "d.a == 1", "tmpl == 'hello world'",
	"loop_r is changed", "skip_r is skipped or skip_r is failed", "n is match('4')",
}

var kvCases = []struct {
	s   string
	raw bool
}{
	{"echo  a   b", true}, {"echo a=b", true}, {"x.sh creates=/tmp/y chdir=/tmp arg", true}, {"echo one\n  echo two\n", true},
	{`files/x.sh a "b c"`, true}, {`msg="hello {{ who }}" var=x`, false}, {"echo {{ a  }}  b", true}, {`a='x y' b="1"`, false},
	{"echo 'unterminated", true}, {`executable=/bin/bash echo \\ x`, true}, {"a\\=b c", false},
}

func TestFiltersMatchAnsible(t *testing.T) {
	python := ansiblePython()
	if python == "" {
		t.Skip("ansible-core's Python is not installed: the differential test of the filters against ansible-core is skipped")
	}
	kv := make([][]any, len(kvCases))
	for i, c := range kvCases {
		kv[i] = []any{c.s, c.raw}
	}
	in, err := json.Marshal(map[string]any{"vars": filterVars, "exprs": filterExprs, "kv": kv, "conds": condCases})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", filtersOracle)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oracle: %v\n%s", err, stderr.String())
	}
	var res struct {
		Exprs []struct {
			V any     `json:"v"`
			E *string `json:"e"`
		}
		Conds []struct {
			V any     `json:"v"`
			E *string `json:"e"`
		}
		KV []struct {
			V map[string]any `json:"v"`
			E *string        `json:"e"`
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	tp := NewTemplar()
	AnsibleFilters(tp)
	for i, e := range filterExprs {
		want := res.Exprs[i]
		got, err := tp.Render(e, filterVars)
		switch {
		case want.E != nil && err == nil:
			t.Errorf("%s: got %#v, Ansible fails: %s", e, got, *want.E)
		case want.E == nil && err != nil:
			t.Errorf("%s: got error %v, Ansible gives %#v", e, err, want.V)
		case want.E == nil:
			// Ansible finalizes None to "" (except a bare {{ var }}).
			var g any
			if got != nil {
				g = pyStr(got)
			} else if want.V == "" {
				g = ""
			}
			if !reflect.DeepEqual(g, want.V) {
				t.Errorf("%s:\n got %#v\nwant %#v", e, g, want.V)
			}
		}
	}
	for i, c := range condCases {
		want := res.Conds[i]
		got, err := tp.Condition(c, filterVars)
		switch {
		case want.E != nil:
			if err == nil {
				t.Errorf("when %q: got %v, Ansible fails: %s", c, got, *want.E)
			}
		case err != nil:
			t.Errorf("when %q: %v, Ansible gives %v", c, err, want.V)
		case got != truthy(want.V):
			t.Errorf("when %q: got %v, Ansible gives %v", c, got, want.V)
		}
	}
	for i, c := range kvCases {
		want := res.KV[i]
		got, err := pyParseKV(c.s, c.raw)
		switch {
		case want.E != nil:
			if err == nil {
				t.Errorf("parse_kv(%q): got %v, Ansible fails: %s", c.s, got, *want.E)
			}
		case err != nil:
			t.Errorf("parse_kv(%q): %v, Ansible gives %v", c.s, err, want.V)
		case !reflect.DeepEqual(got, want.V):
			t.Errorf("parse_kv(%q):\n got %#v\nwant %#v", c.s, got, want.V)
		}
	}
}

func TestAllowedNamesAreInstalled(t *testing.T) {
	tp := NewTemplar()
	AnsibleFilters(tp)
	for _, f := range AllowedFilters() {
		if !tp.env.Filters.Exists(f) {
			t.Errorf("filter %s is not installed", f)
		}
	}
	for _, x := range AllowedTests() {
		if !tp.env.Tests.Exists(x) {
			t.Errorf("test %s is not installed", x)
		}
	}
	if c, _, bad := ScanTemplate("cat a | grep b", false); bad {
		t.Errorf("plain text refused as %s", c)
	}
	if c, _, bad := ScanTemplate("x is defined and y | int > 1", true); bad {
		t.Errorf("a bare condition refused as %s", c)
	}
	if c, _, bad := ScanTemplate("{% filter indent %}x{% endfilter %}", false); !bad || !strings.Contains(c, "indent") {
		t.Errorf("filter block: %q %v", c, bad)
	}
}
