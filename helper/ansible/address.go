package ansible

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Host identifiers and ports as ansible.parsing.utils.addresses reads them.

const (
	numericRange      = `\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]`
	hexadecimalRange  = `\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]`
	alphanumericRange = `\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`
	ipv6Component     = `(?:[0-9a-f]{1,4}|` + hexadecimalRange + `)`
	ipv4Component     = `(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|` + numericRange + `)`
	// A label without Python's (?<![_-]) look-behind, checked apart.
	label = `(?:[\p{L}\p{N}_]|` + alphanumericRange + `)(?:[\p{L}\p{N}_-]|` + alphanumericRange + `)*`
)

type addressPatterns struct {
	bracketedHostPort, hostPort, ipv4, ipv6, label *regexp.Regexp
}

func newAddressPatterns() *addressPatterns {
	c := ipv6Component
	ipv6 := strings.Join([]string{
		`(?:` + c + `:){7}` + c,
		`(?:` + c + `:){1,6}:`,
		`(?:` + c + `:)(?::` + c + `){1,6}`,
		`(?:` + c + `:){2}(?::` + c + `){1,5}`,
		`(?:` + c + `:){3}(?::` + c + `){1,4}`,
		`(?:` + c + `:){4}(?::` + c + `){1,3}`,
		`(?:` + c + `:){5}(?::` + c + `){1,2}`,
		`(?:` + c + `:){6}(?::` + c + `)`,
		`:(?::` + c + `){1,6}`,
		c + `?::`,
		`(?:0:){6}(?:` + c + `\.){3}` + c,
		`::(?:ffff:)?(?:` + c + `\.){3}` + c,
		`(?:0:){5}ffff:(?:` + c + `\.){3}` + c,
	}, "|")
	return &addressPatterns{
		bracketedHostPort: regexp.MustCompile(`^\[(.+)\]:([0-9]+)$`),
		hostPort:          regexp.MustCompile(`^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$`),
		ipv4:              regexp.MustCompile(`(?i)^(?:` + ipv4Component + `\.){3}` + ipv4Component + `$`),
		ipv6:              regexp.MustCompile(`(?i)^(?:` + ipv6 + `)$`),
		label:             regexp.MustCompile(`(?i)^` + label + `$`),
	}
}

func (p *addressPatterns) hostname(s string) bool {
	for _, l := range strings.Split(s, ".") {
		if !p.label.MatchString(l) || strings.HasSuffix(l, "_") || strings.HasSuffix(l, "-") {
			return false
		}
	}
	return true
}

// isIP tells an IPv4 or IPv6 address (inventory_hostname_short keeps them whole).
func (p *addressPatterns) isIP(s string) bool { return p.ipv4.MatchString(s) || p.ipv6.MatchString(s) }

// parseAddress is parse_address: a host identifier and an optional port
// ("[::1]:22", "10.0.0.1:22", "host:22"; an IPv6 address takes a port only
// in brackets). port is -1 when none was given.
func (p *addressPatterns) parseAddress(address string, allowRanges bool) (string, int, error) {
	port := -1
	for _, re := range []*regexp.Regexp{p.bracketedHostPort, p.hostPort} {
		if m := re.FindStringSubmatch(address); m != nil {
			n, err := strconv.Atoi(m[2])
			if err != nil {
				return "", -1, fmt.Errorf("bad port in %s", address)
			}
			address, port = m[1], n
		}
	}
	if !p.ipv4.MatchString(address) && !p.ipv6.MatchString(address) && !p.hostname(address) {
		return "", -1, fmt.Errorf("not a valid network hostname: %s", address)
	}
	if !allowRanges && strings.Contains(address, "[") {
		return "", -1, fmt.Errorf("detected range in host but was asked to ignore ranges")
	}
	return address, port, nil
}

// expandHostPattern is BaseInventoryPlugin._expand_hostpattern: names
// (ranges expanded) and a port (-1 if none).
func (p *addressPatterns) expandHostPattern(pattern string) ([]string, int, error) {
	host, port, err := p.parseAddress(pattern, true)
	if err != nil {
		host, port = pattern, -1
	}
	if !strings.Contains(host, "[") {
		return []string{host}, port, nil
	}
	names, err := expandHostnameRange(host)
	return names, port, err
}

const asciiLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// expandHostnameRange expands db[01:03]x, [a:c], [1:9:2] as Ansible does.
func expandHostnameRange(line string) ([]string, error) {
	// Python: replace the first '[' and the first ']' by '|', then split in three.
	r := strings.Replace(strings.Replace(line, "[", "|", 1), "]", "|", 1)
	parts := strings.Split(r, "|")
	if len(parts) != 3 {
		return nil, fmt.Errorf("invalid host range in %s", line)
	}
	head, nrange, tail := parts[0], parts[1], parts[2]
	bounds := strings.Split(nrange, ":")
	if len(bounds) != 2 && len(bounds) != 3 {
		return nil, fmt.Errorf("host range must be begin:end or begin:end:step")
	}
	beg, end, stepS := bounds[0], bounds[1], "1"
	if len(bounds) == 3 {
		stepS = bounds[2]
	}
	if beg == "" {
		beg = "0"
	}
	if end == "" {
		return nil, fmt.Errorf("host range must specify end value")
	}
	fill := func(s string) string { return s }
	if beg[0] == '0' && len(beg) > 1 {
		if len(beg) != len(end) {
			return nil, fmt.Errorf("host range must specify equal-length begin and end formats")
		}
		n := len(beg)
		fill = func(s string) string {
			neg := strings.HasPrefix(s, "-")
			s = strings.TrimPrefix(s, "-")
			for len(s) < n-btoi(neg) {
				s = "0" + s
			}
			if neg {
				s = "-" + s
			}
			return s
		}
	}
	var seq []string
	ib, ie := strings.Index(asciiLetters, beg), strings.Index(asciiLetters, end)
	step, stepErr := strconv.Atoi(strings.TrimSpace(stepS))
	if ib >= 0 && ie >= 0 && stepErr == nil && step != 0 {
		if ib > ie {
			return nil, fmt.Errorf("host range must have begin <= end")
		}
		if step > 0 {
			for k := ib; k <= ie; k += step {
				seq = append(seq, asciiLetters[k:k+1])
			}
		}
	} else {
		b, err1 := strconv.Atoi(strings.TrimSpace(beg))
		e, err2 := strconv.Atoi(strings.TrimSpace(end))
		if err1 != nil || err2 != nil || stepErr != nil {
			return nil, fmt.Errorf("invalid host range [%s] in %s", nrange, line)
		}
		if step == 0 {
			return nil, fmt.Errorf("host range step must not be zero in %s", line)
		}
		for k := b; step > 0 && k < e+1 || step < 0 && k > e+1; k += step {
			seq = append(seq, strconv.Itoa(k))
		}
	}
	var out []string
	for _, s := range seq {
		name := head + fill(s) + tail
		if strings.Contains(name, "[") {
			more, err := expandHostnameRange(name)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		} else {
			out = append(out, name)
		}
	}
	return out, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
