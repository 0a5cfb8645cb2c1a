package ansible

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// SplitPattern splits a host pattern as Ansible does: on commas when there
// are any; otherwise a single address-like pattern (host, host:port, IPv6,
// host[1:3]) stays whole, and anything else splits on ':' (and whitespace),
// keeping [...] intact.
func SplitPattern(p string) []string {
	p = strings.TrimSpace(p)
	var parts []string
	switch {
	case strings.Contains(p, ","):
		parts = strings.Split(p, ",")
	case isAddress(p):
		parts = []string{p}
	default:
		parts = colonSplit.FindAllString(p, -1)
	}
	var out []string
	for _, x := range parts {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

var colonSplit = regexp.MustCompile(`(?:[^\s:\[\]]|\[[^\]]*\])+`)

// The address forms of ansible.parsing.utils.addresses, with ranges allowed.
var (
	rangeRe   = `\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`
	labelRe   = `(?:[\p{L}\p{N}_]|` + rangeRe + `)(?:[\p{L}\p{N}_-]|` + rangeRe + `)*`
	hostnameA = regexp.MustCompile(`^(` + labelRe + `(?:\.` + labelRe + `)*)(?::[0-9]+)?$`)
	ipv6A     = regexp.MustCompile(`^\[?[0-9a-fA-F:]*:[0-9a-fA-F:]*(?:\][:][0-9]+|\])?$`)
)

func isAddress(p string) bool {
	if hostnameA.MatchString(p) {
		// A label may not end with - or _.
		h := p
		if i := strings.LastIndex(p, ":"); i >= 0 && !strings.Contains(p[i:], "]") {
			h = p[:i]
		}
		for _, l := range strings.Split(h, ".") {
			if strings.HasSuffix(l, "-") || strings.HasSuffix(l, "_") {
				return false
			}
		}
		return true
	}
	return strings.Count(p, ":") >= 2 && ipv6A.MatchString(p)
}

// orderPatterns: plain terms first, then &, then !; only & and ! means "all" first.
func orderPatterns(ps []string) []string {
	var reg, and, not []string
	for _, p := range ps {
		switch p[0] {
		case '!':
			not = append(not, p)
		case '&':
			and = append(and, p)
		default:
			reg = append(reg, p)
		}
	}
	if len(reg) == 0 {
		reg = []string{"all"}
	}
	return append(append(reg, and...), not...)
}

// Select returns the hosts the pattern selects, in Ansible's order.
func (inv *Inventory) Select(pattern string) ([]string, error) {
	var hosts []string
	for _, p := range orderPatterns(SplitPattern(pattern)) {
		if _, ok := inv.hosts[p]; ok {
			hosts = append(hosts, p)
			continue
		}
		that, err := inv.matchOne(p)
		if err != nil {
			return nil, err
		}
		switch p[0] {
		case '!':
			set := toSet(that)
			hosts = filter(hosts, func(h string) bool { return !set[h] })
		case '&':
			set := toSet(that)
			hosts = filter(hosts, func(h string) bool { return set[h] })
		default:
			have := toSet(hosts)
			for _, h := range that {
				if !have[h] {
					hosts = append(hosts, h)
					have[h] = true
				}
			}
		}
	}
	// deduplicate, keeping the first
	seen := map[string]bool{}
	return filter(hosts, func(h string) bool {
		if seen[h] {
			return false
		}
		seen[h] = true
		return true
	}), nil
}

func toSet(s []string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, x := range s {
		m[x] = true
	}
	return m
}

func filter(s []string, keep func(string) bool) []string {
	out := []string{}
	for _, x := range s {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

var subscriptRe = regexp.MustCompile(`^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$`)

func (inv *Inventory) matchOne(p string) ([]string, error) {
	if p[0] == '&' || p[0] == '!' {
		p = p[1:]
	}
	if p == "" {
		return nil, nil
	}
	expr := p
	var start, end int
	hasSub, single := false, false
	if p[0] != '~' {
		if m := subscriptRe.FindStringSubmatch(p); m != nil {
			expr, hasSub = m[1], true
			if m[2] != "" {
				start, _ = strconv.Atoi(m[2])
				single = true
			} else {
				start, _ = strconv.Atoi(m[3])
				end = -1
				if m[5] != "" {
					end, _ = strconv.Atoi(m[5])
				}
			}
		}
	}
	hosts, err := inv.enumerate(expr)
	if err != nil {
		return nil, err
	}
	if !hasSub || len(hosts) == 0 {
		return hosts, nil
	}
	// As Python: a zero end reads as "no end", so [x:0] is [x].
	if single || end == 0 {
		i := start
		if i < 0 {
			i += len(hosts)
		}
		if i < 0 || i >= len(hosts) {
			return nil, fmt.Errorf("no hosts matched the subscripted pattern %q", p)
		}
		return []string{hosts[i]}, nil
	}
	if end == -1 {
		end = len(hosts) - 1
	}
	if start > len(hosts) {
		start = len(hosts)
	}
	stop := min(end+1, len(hosts))
	if stop < start {
		return []string{}, nil
	}
	return hosts[start:stop], nil
}

// enumerate matches group names first (all their hosts), then host names
// when no group matched or the pattern is a regex or glob.
func (inv *Inventory) enumerate(p string) ([]string, error) {
	re, err := compilePattern(p)
	if err != nil {
		return nil, err
	}
	var results []string
	matchedGroup := false
	for _, g := range inv.groupOrder {
		if re.MatchString(g) {
			matchedGroup = true
			results = append(results, inv.groupHosts(g)...)
		}
	}
	if !matchedGroup || p[0] == '~' || strings.ContainsAny(p, ".?*[") {
		for _, h := range inv.hostOrder {
			if re.MatchString(h) {
				results = append(results, h)
			}
		}
	}
	return results, nil
}

// compilePattern: "~regex" is matched at the start only (Python re.match);
// anything else is an fnmatch glob over the whole name.
func compilePattern(p string) (*regexp.Regexp, error) {
	if p[0] == '~' {
		re, err := regexp.Compile(`^(?:` + p[1:] + `)`)
		if err != nil {
			return nil, fmt.Errorf("invalid host list pattern: %s", p)
		}
		return re, nil
	}
	return regexp.Compile(`^(?s:` + fnmatchTranslate(p) + `)$`)
}

// fnmatchTranslate is Python's fnmatch.translate: * ? [seq] [!seq].
func fnmatchTranslate(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := i + 1
			if j < len(p) && p[j] == '!' {
				j++
			}
			if j < len(p) && p[j] == ']' {
				j++
			}
			for j < len(p) && p[j] != ']' {
				j++
			}
			if j >= len(p) {
				b.WriteString(`\[`)
				continue
			}
			stuff := p[i+1 : j]
			i = j
			if stuff == "" {
				b.WriteString(`[^\s\S]`) // matches nothing, as Python's (?!)
				continue
			}
			if stuff == "!" {
				b.WriteString(".")
				continue
			}
			stuff = strings.ReplaceAll(stuff, `\`, `\\`)
			if stuff[0] == '!' {
				stuff = "^" + stuff[1:]
			} else if stuff[0] == '^' {
				stuff = `\` + stuff
			}
			b.WriteString("[" + strings.ReplaceAll(stuff, "[", `\[`) + "]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}
