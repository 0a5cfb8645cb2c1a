package ansible

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Vault is an inline `!vault` value: kept encrypted, opaque. ops never
// decrypts; a Vault where a value is needed is an error naming it.
type Vault struct {
	Ciphertext string
	File       string // where it was read
}

// Unsafe is a `!unsafe` string: never templated.
type Unsafe string

// decodeData reads a vars file, an inventory or -e data as Ansible's
// DataLoader does: JSON first, else YAML 1.1 (PyYAML's implicit types).
func decodeData(b []byte, file string) (any, error) {
	doc, jsonMode, err := parseYAMLDoc(b, file)
	if err != nil || doc == nil {
		return nil, err
	}
	return yamlValue(doc, file, jsonMode)
}

// parseYAMLDoc parses b into its single document node (nil when empty);
// jsonMode says the text is JSON, whose scalars follow JSON's rules.
func parseYAMLDoc(b []byte, file string) (*yaml.Node, bool, error) {
	jsonMode := json.Valid(b)
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, jsonMode, nil
		}
		return nil, jsonMode, fmt.Errorf("%s: %v", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return nil, jsonMode, fmt.Errorf("%s: expected a single document", file)
	}
	if len(doc.Content) == 0 {
		return nil, jsonMode, nil
	}
	return doc.Content[0], jsonMode, nil
}

var (
	yamlBool  = regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	yamlFloat = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	yamlInt   = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	yamlNull  = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
)

// yamlValue converts a node as PyYAML's SafeLoader (YAML 1.1) and
// Ansible's constructor do; jsonMode resolves plain scalars as JSON.
func yamlValue(n *yaml.Node, file string, jsonMode bool) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return yamlValue(n.Alias, file, jsonMode)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return yamlValue(n.Content[0], file, jsonMode)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlValue(c, file, jsonMode)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := map[string]any{}
		var merges []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 && !jsonMode {
				merges = append(merges, v)
				continue
			}
			kv, err := yamlValue(k, file, jsonMode)
			if err != nil {
				return nil, err
			}
			if _, ok := kv.([]any); ok {
				return nil, fmt.Errorf("%s:%d: a mapping key must be a scalar", file, k.Line)
			}
			if _, ok := kv.(map[string]any); ok {
				return nil, fmt.Errorf("%s:%d: a mapping key must be a scalar", file, k.Line)
			}
			val, err := yamlValue(v, file, jsonMode)
			if err != nil {
				return nil, err
			}
			out[pyKey(kv)] = val
		}
		// Merge keys (<<) give values the mapping does not set itself.
		for _, m := range merges {
			srcs := []*yaml.Node{m}
			if m.Kind == yaml.SequenceNode {
				srcs = m.Content
			}
			for _, s := range srcs {
				v, err := yamlValue(s, file, jsonMode)
				if err != nil {
					return nil, err
				}
				mm, ok := v.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s:%d: a merge key needs a mapping", file, s.Line)
				}
				for k, x := range mm {
					if _, set := out[k]; !set {
						out[k] = x
					}
				}
			}
		}
		return out, nil
	}
	return yamlScalar(n, file, jsonMode)
}

func yamlScalar(n *yaml.Node, file string, jsonMode bool) (any, error) {
	v := n.Value
	quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0
	tag := ""
	if n.Style&yaml.TaggedStyle != 0 {
		tag = n.Tag
	}
	switch tag {
	case "!vault", "!vault-encrypted":
		return Vault{Ciphertext: v, File: file}, nil
	case "!unsafe":
		return Unsafe(v), nil
	case "!!str", "tag:yaml.org,2002:str":
		return v, nil
	case "":
	case "!!int", "!!float", "!!bool", "!!null":
		quoted = false
	default:
		return nil, fmt.Errorf("%s:%d: unknown tag %s", file, n.Line, tag)
	}
	if quoted {
		return v, nil
	}
	if jsonMode {
		switch v {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		}
		if strings.ContainsAny(v, ".eE") {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f, nil
			}
		} else if i, err := pyInt(strings.TrimPrefix(v, "+"), 10); err == nil {
			return i, nil
		}
		return v, nil
	}
	switch {
	case yamlNull.MatchString(v) && (tag == "" || tag == "!!null"):
		return nil, nil
	case yamlBool.MatchString(v):
		switch v[0] {
		case 'y', 'Y', 't', 'T':
			return true, nil
		case 'o', 'O':
			return v == "on" || v == "On" || v == "ON", nil
		}
		return false, nil
	case yamlInt.MatchString(v):
		return yamlIntValue(v)
	case yamlFloat.MatchString(v):
		return yamlFloatValue(v), nil
	}
	return v, nil
}

func yamlIntValue(s string) (any, error) {
	s = strings.ReplaceAll(s, "_", "")
	sign := ""
	if s[0] == '-' || s[0] == '+' {
		if s[0] == '-' {
			sign = "-"
		}
		s = s[1:]
	}
	neg := func(v any) any {
		if sign == "" {
			return v
		}
		switch v := v.(type) {
		case int:
			return -v
		case *big.Int:
			return new(big.Int).Neg(v)
		}
		return v
	}
	switch {
	case s == "0":
		return 0, nil
	case strings.HasPrefix(s, "0b"):
		v, err := pyInt(s[2:], 2)
		return neg(v), err
	case strings.HasPrefix(s, "0x"):
		v, err := pyInt(s[2:], 16)
		return neg(v), err
	case s[0] == '0':
		v, err := pyInt(s[1:], 8)
		return neg(v), err
	case strings.Contains(s, ":"):
		total := 0
		for _, part := range strings.Split(s, ":") {
			d, _ := strconv.Atoi(part)
			total = total*60 + d
		}
		return neg(total), nil
	}
	v, err := pyInt(s, 10)
	return neg(v), err
}

func yamlFloatValue(s string) float64 {
	s = strings.ToLower(strings.ReplaceAll(s, "_", ""))
	sign := 1.0
	if s[0] == '-' || s[0] == '+' {
		if s[0] == '-' {
			sign = -1
		}
		s = s[1:]
	}
	switch {
	case s == ".inf":
		return sign * math.Inf(1)
	case s == ".nan":
		return math.NaN()
	case strings.Contains(s, ":"):
		parts := strings.Split(s, ":")
		total := 0.0
		for _, p := range parts {
			f, _ := strconv.ParseFloat(p, 64)
			total = total*60 + f
		}
		return sign * total
	}
	f, _ := strconv.ParseFloat(s, 64)
	return sign * f
}
