package ansible

import (
	"slices"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/tokens"
	"go.yaml.in/yaml/v3"
)

// The static scan of a playbook's templates: lookups and filters or tests
// ops does not implement with Ansible's semantics are refused before any
// connection. Templates are read with gonja's lexer, so that a `|` or an
// `is` in plain text (a shell pipe in a raw command) is not taken for
// Jinja.

// scanNode scans every string under n; bare says the strings are bare
// Jinja expressions (when, changed_when, failed_when).
func (l *pbLoader) scanNode(n *yaml.Node, bare bool) error {
	switch n.Kind {
	case yaml.AliasNode:
		return l.scanNode(n.Alias, bare)
	case yaml.ScalarNode:
		if n.Style&yaml.TaggedStyle != 0 && (n.Tag == "!unsafe" || strings.HasPrefix(n.Tag, "!vault")) {
			return nil
		}
		if construct, why, bad := ScanTemplate(n.Value, bare); bad {
			return &RefusedError{File: l.file, Line: n.Line, Construct: construct, Why: why}
		}
		if err := l.templar.Parse(n.Value, bare); err != nil {
			return &RefusedError{File: l.file, Line: n.Line, Construct: "the template " + strconv.Quote(n.Value),
				Why: "ops play cannot parse it: " + err.Error()}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if err := l.scanNode(c, bare); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if err := l.scanNode(n.Content[i], bare); err != nil {
				return err
			}
		}
	}
	return nil
}

// ScanTemplate looks in one template string (a bare expression with
// bare) for what ops play refuses: a lookup (lookup, query, q), a filter
// not in AllowedFilters, a test not in AllowedTests. It reports the
// construct and why.
func ScanTemplate(s string, bare bool) (construct, why string, bad bool) {
	if bare && !IsTemplate(s) {
		s = "{{ " + s + " }}"
	}
	if !IsTemplate(s) {
		return "", "", false
	}
	stream := tokens.LexAll(s, config.New())
	var toks []*tokens.Token
	for !stream.End() {
		t := stream.Next()
		if t == nil {
			break
		}
		if t.Type == tokens.Whitespace {
			continue
		}
		toks = append(toks, t)
	}
	// dotted reads Name (. Name)* from i.
	dotted := func(i int) (string, int) {
		name := toks[i].Val
		j := i + 1
		for j+1 < len(toks) && toks[j].Type == tokens.Dot && toks[j+1].Type == tokens.Name {
			name += "." + toks[j+1].Val
			j += 2
		}
		return name, j
	}
	filters, tests := AllowedFilters(), AllowedTests()
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.Type == tokens.Pipe && i+1 < len(toks) && toks[i+1].Type == tokens.Name:
			name, _ := dotted(i + 1)
			if construct, why, bad := checkName("filter", name, filters); bad {
				return construct, why, true
			}
		case t.Type == tokens.BlockBegin && i+2 < len(toks) && toks[i+1].Type == tokens.Name && toks[i+1].Val == "filter" && toks[i+2].Type == tokens.Name:
			name, _ := dotted(i + 2)
			if construct, why, bad := checkName("filter", name, filters); bad {
				return construct, why, true
			}
		case t.Type == tokens.Is:
			j := i + 1
			if j < len(toks) && toks[j].Type == tokens.Not {
				j++
			}
			if j < len(toks) && toks[j].Type == tokens.Name {
				name, _ := dotted(j)
				if construct, why, bad := checkName("test", name, tests); bad {
					return construct, why, true
				}
			}
		case t.Type == tokens.Name && (t.Val == "lookup" || t.Val == "query" || t.Val == "q") &&
			i+1 < len(toks) && toks[i+1].Type == tokens.LeftParenthesis && (i == 0 || toks[i-1].Type != tokens.Dot):
			return t.Val + "()", "ops play does not run lookups", true
		}
	}
	return "", "", false
}

// checkName refuses a filter or test ops play does not implement, and a
// collection-qualified name of one it does (gonja does not parse dotted
// filter and test names).
func checkName(kind, name string, allowed []string) (string, string, bool) {
	short := shortModule(name)
	if !slices.Contains(allowed, short) {
		return "the " + kind + " " + name, "ops play implements the " + kind + "s " + strings.Join(allowed, ", "), true
	}
	if short != name {
		return "the " + kind + " name " + name, "ops play reads short " + kind + " names: write " + short, true
	}
	return "", "", false
}

// Parse tells whether gonja parses the template s (a bare expression
// with bare): a template Ansible reads and gonja cannot (a test with
// keyword arguments, …) is refused before the play runs rather than
// failing in the middle of it.
func (t *Templar) Parse(s string, bare bool) error {
	if bare && !IsTemplate(s) {
		s = "{% if " + s + " %}True{% else %}False{% endif %}"
	}
	if !IsTemplate(s) {
		return nil
	}
	loader, err := loaders.NewMemoryLoader(map[string]string{"/t": jinjaStringLiterals(s)})
	if err != nil {
		return err
	}
	if _, err := exec.NewTemplate("/t", t.cfg, loader, t.env); err != nil {
		return templateError(err)
	}
	return nil
}
