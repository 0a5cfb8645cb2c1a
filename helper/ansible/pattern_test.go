package ansible

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSplitPattern(t *testing.T) {
	for in, want := range map[string][]string{
		"a:b":                {"a", "b"},
		"a,b[1], c[2:3] , d": {"a", "b[1]", "c[2:3]", "d"},
		"web:&db:!x":         {"web", "&db", "!x"},
		"g[1:3]":             {"g[1:3]"},
		"g[1:3]:h":           {"g[1:3]", "h"},
		"host:22":            {"host:22"},
		"fe80::1":            {"fe80::1"},
		"a b":                {"a", "b"},
	} {
		if got := SplitPattern(in); !slices.Equal(got, want) {
			t.Errorf("SplitPattern(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestINIAndYAML(t *testing.T) {
	dir := t.TempDir()
	ini := filepath.Join(dir, "hosts")
	os.WriteFile(ini, []byte(`lonely ansible_host=10.0.0.9
[web]
web[01:03] ansible_user=deploy
db1:2222

[db]
db1 ansible_host="10.0.0.1"

[prod:children]
web
db

[prod:vars]
env=prod
`), 0o644)
	yml := filepath.Join(dir, "more.yml")
	os.WriteFile(yml, []byte(`all:
  children:
    cache:
      hosts:
        c1: {ansible_port: 2200}
      vars: {tier: cache}
`), 0o644)
	inv, err := Load(context.Background(), []string{ini, yml})
	if err != nil {
		t.Fatal(err)
	}
	for pattern, want := range map[string][]string{
		"web":        {"web01", "web02", "web03", "db1"},
		"prod:!db":   {"web01", "web02", "web03"},
		"ungrouped":  {"lonely"},
		"all:&cache": {"c1"},
		"web[0]":     {"web01"},
		"web[-1]":    {"db1"},
		"web[1:2]":   {"web02", "web03"},
		"~web0[23]":  {"web02", "web03"},
		"w*:!web02":  {"web01", "web03", "db1"},
		"nosuch":     {},
	} {
		got, err := inv.Select(pattern)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %v %v, want %v", pattern, got, err, want)
		}
	}
	h, _ := inv.Host("db1")
	if h.Vars["ansible_host"] != "10.0.0.1" || h.Vars["ansible_port"] != 2222 || h.Vars["env"] != "prod" {
		t.Errorf("db1 vars %v", h.Vars)
	}
	h, _ = inv.Host("c1")
	if h.Vars["ansible_port"] != 2200 || h.Vars["tier"] != "cache" {
		t.Errorf("c1 vars %v", h.Vars)
	}
	if _, err := inv.Select("web[9]"); err == nil {
		t.Error("an out-of-range subscript matched")
	}
	list, _ := Load(context.Background(), []string{"a.example,b.example,"})
	if got, _ := list.Select("all"); !slices.Equal(got, []string{"a.example", "b.example"}) {
		t.Errorf("host list: %v", got)
	}
}

// genInventory writes a random inventory (INI or YAML) and returns the
// names that patterns can use; leaves are groups without children.
func genInventory(r *rand.Rand, path string, yamlForm bool) (groups, leaves, hosts []string) {
	nh, ng := 4+r.Intn(10), 2+r.Intn(5)
	for i := 0; i < nh; i++ {
		hosts = append(hosts, fmt.Sprintf("%s%d", []string{"web", "db", "app", "h"}[r.Intn(4)], i))
	}
	members := map[string][]string{}
	children := map[string][]string{}
	for i := 0; i < ng; i++ {
		g := fmt.Sprintf("%s%d", []string{"g", "grp", "web", "prod"}[r.Intn(4)], i)
		groups = append(groups, g)
		for _, h := range hosts {
			if r.Intn(3) == 0 {
				members[g] = append(members[g], h)
			}
		}
	}
	// One level of children: parents are groups with an index below the child's.
	for i := 1; i < ng; i++ {
		if r.Intn(3) == 0 {
			p := groups[r.Intn(i)]
			if len(children[groups[i]]) == 0 {
				children[p] = append(children[p], groups[i])
			}
		}
	}
	for _, g := range groups {
		if len(children[g]) == 0 {
			leaves = append(leaves, g)
		}
	}
	var b strings.Builder
	if yamlForm {
		b.WriteString("all:\n  hosts:\n")
		for _, h := range hosts {
			fmt.Fprintf(&b, "    %s:\n", h)
		}
		b.WriteString("  children:\n")
		for _, g := range groups {
			fmt.Fprintf(&b, "    %s:\n      hosts:\n", g)
			for _, h := range members[g] {
				fmt.Fprintf(&b, "        %s:\n", h)
			}
			if len(children[g]) > 0 {
				b.WriteString("      children:\n")
				for _, c := range children[g] {
					fmt.Fprintf(&b, "        %s:\n", c)
				}
			}
		}
	} else {
		for _, h := range hosts {
			if r.Intn(4) == 0 {
				fmt.Fprintln(&b, h)
			}
		}
		for _, g := range groups {
			fmt.Fprintf(&b, "[%s]\n", g)
			for _, h := range members[g] {
				fmt.Fprintln(&b, h)
			}
			if len(children[g]) > 0 {
				fmt.Fprintf(&b, "[%s:children]\n%s\n", g, strings.Join(children[g], "\n"))
			}
		}
		// Hosts not placed anywhere yet still exist.
		fmt.Fprintln(&b, "[rest]")
		for _, h := range hosts {
			fmt.Fprintln(&b, h)
		}
		groups = append(groups, "rest")
		leaves = append(leaves, "rest")
	}
	os.WriteFile(path, []byte(b.String()), 0o644)
	return groups, leaves, hosts
}

func genPattern(r *rand.Rand, groups, leaves, hosts []string) string {
	term := func() string {
		switch r.Intn(11) {
		case 0, 1, 2:
			return groups[r.Intn(len(groups))]
		case 3, 4:
			return hosts[r.Intn(len(hosts))]
		case 5:
			return []string{"web*", "*1", "g?", "h[0-5]", "[!w]*", "grp*", "*", "d?*"}[r.Intn(8)]
		case 6:
			return []string{"~web", "~(db|app)[0-3]", "~g.*1", "~h1"}[r.Intn(4)]
		case 7:
			l := leaves[r.Intn(len(leaves))]
			return l + []string{"[0]", "[-1]", "[1:2]", "[1:]", "[0:0]", "[2]", "[5:9]"}[r.Intn(7)]
		case 8:
			return "all"
		case 9:
			return "ungrouped"
		default:
			return "nosuch"
		}
	}
	n := 1 + r.Intn(4)
	sep := []string{":", ","}[r.Intn(2)]
	var parts []string
	for i := 0; i < n; i++ {
		prefix := ""
		if i > 0 || r.Intn(5) == 0 {
			prefix = []string{"", "", "&", "!"}[r.Intn(4)]
		}
		parts = append(parts, prefix+term())
	}
	return strings.Join(parts, sep)
}

// ansibleOracle evaluates patterns with ansible-core's own InventoryManager
// (the code behind `ansible --list-hosts`), all in one Python process.
const ansibleOracle = `
import json, sys
from ansible.parsing.dataloader import DataLoader
from ansible.inventory.manager import InventoryManager
from ansible.errors import AnsibleError
from ansible.utils.display import Display
Display().verbosity = 0
cases = json.load(open(sys.argv[1]))
out = []
for c in cases:
    im = InventoryManager(loader=DataLoader(), sources=[c["inventory"]])
    res = []
    for p in c["patterns"]:
        try:
            res.append([h.name for h in im.get_hosts(p)])
        except AnsibleError:
            res.append(None)
    out.append(res)
json.dump(out, sys.stdout)
`

func TestPatternsMatchAnsible(t *testing.T) {
	// The Python that ansible itself runs with (its shebang).
	ans, err := exec.LookPath("ansible")
	if err != nil {
		t.Fatal("ansible-core is needed for the differential test")
	}
	head, _ := os.ReadFile(ans)
	python := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(string(head), "\n", 2)[0], "#!"))
	r := rand.New(rand.NewSource(20261125))
	dir := t.TempDir()
	type tcase struct {
		Inventory string   `json:"inventory"`
		Patterns  []string `json:"patterns"`
	}
	var cases []tcase
	invs := map[string]*Inventory{}
	total := 0
	for i := 0; i < 40; i++ {
		yamlForm := i%2 == 1
		path := filepath.Join(dir, fmt.Sprintf("inv%d", i))
		if yamlForm {
			path += ".yml"
		}
		groups, leaves, hosts := genInventory(r, path, yamlForm)
		c := tcase{Inventory: path}
		for j := 0; j < 15; j++ {
			c.Patterns = append(c.Patterns, genPattern(r, groups, leaves, hosts))
		}
		total += len(c.Patterns)
		cases = append(cases, c)
		inv, err := Load(context.Background(), []string{path})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		invs[path] = inv
	}
	spec := filepath.Join(dir, "cases.json")
	b, _ := json.Marshal(cases)
	os.WriteFile(spec, b, 0o644)
	script := filepath.Join(dir, "oracle.py")
	os.WriteFile(script, []byte(ansibleOracle), 0o644)
	cmd := exec.Command(python, script, spec)
	cmd.Env = append(os.Environ(), "ANSIBLE_HOST_PATTERN_MISMATCH=ignore", "ANSIBLE_LOCAL_TEMP="+t.TempDir(), "ANSIBLE_INVENTORY_UNPARSED_WARNING=False")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ansible oracle: %v\n%s", err, stderr.String())
	}
	var want [][]*[]string
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	mismatches := 0
	for i, c := range cases {
		for j, p := range c.Patterns {
			got, err := invs[c.Inventory].Select(p)
			w := want[i][j]
			switch {
			case w == nil && err == nil:
				t.Errorf("%s %q: ansible errs, we give %v", c.Inventory, p, got)
				mismatches++
			case w != nil && err != nil:
				t.Errorf("%s %q: we err (%v), ansible gives %v", c.Inventory, p, err, *w)
				mismatches++
			case w != nil && !slices.Equal(sorted(got), sorted(*w)):
				t.Errorf("%s %q: got %v, ansible %v", c.Inventory, p, got, *w)
				mismatches++
			}
			if mismatches > 20 {
				t.Fatal("too many mismatches")
			}
		}
	}
	t.Logf("%d patterns over %d inventories compared with ansible-core", total, len(cases))
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
