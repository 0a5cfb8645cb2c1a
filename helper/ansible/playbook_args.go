package ansible

import (
	"errors"
	"strings"
)

// Module arguments as ansible-core 2.14's parsing/splitter.py reads them
// (split_args, join_args, parse_kv): ported line by line, so that a
// `raw:` free form keeps its spaces and newlines exactly as Ansible sends
// them.

// pySplitArgs is split_args: white space splits, except inside quotes and
// Jinja blocks; newlines stay at the end of the word before them.
func pySplitArgs(args string) ([]string, error) {
	var params []string
	items := strings.Split(args, "\n")
	var quoteChar byte
	insideQuotes := false
	printDepth, blockDepth, commentDepth := 0, 0, 0
	errUnparsable := errors.New("unable to parse argument string")
	for itemIdx, item := range items {
		tokens := strings.Split(item, " ")
		lineContinuation := false
		for idx, token := range tokens {
			if len(token) == 0 && idx != 0 {
				if len(params) == 0 {
					return nil, errUnparsable
				}
				params[len(params)-1] += " "
				continue
			}
			if token == `\` && !insideQuotes {
				lineContinuation = true
				continue
			}
			wasInsideQuotes := insideQuotes
			quoteChar = pyQuoteState(token, quoteChar)
			insideQuotes = quoteChar != 0
			appended := false
			jinja := printDepth != 0 || blockDepth != 0 || commentDepth != 0
			switch {
			case insideQuotes && !wasInsideQuotes && !jinja:
				params = append(params, token)
				appended = true
			case jinja || insideQuotes || wasInsideQuotes:
				if len(params) == 0 {
					return nil, errUnparsable
				}
				last := len(params) - 1
				switch {
				case idx == 0 && wasInsideQuotes:
					params[last] += token
				case len(tokens) > 1:
					spacer := ""
					if idx > 0 {
						spacer = " "
					}
					params[last] += spacer + token
				default:
					params[last] += "\n" + token
				}
				appended = true
			}
			prev := printDepth
			printDepth = pyCountJinja(token, printDepth, "{{", "}}")
			if printDepth != prev && !appended {
				params = append(params, token)
				appended = true
			}
			prev = blockDepth
			blockDepth = pyCountJinja(token, blockDepth, "{%", "%}")
			if blockDepth != prev && !appended {
				params = append(params, token)
				appended = true
			}
			prev = commentDepth
			commentDepth = pyCountJinja(token, commentDepth, "{#", "#}")
			if commentDepth != prev && !appended {
				params = append(params, token)
				appended = true
			}
			if printDepth == 0 && blockDepth == 0 && commentDepth == 0 && !insideQuotes && !appended && token != "" {
				params = append(params, token)
			}
		}
		if len(items) > 1 && itemIdx != len(items)-1 && !lineContinuation {
			if len(params) == 0 {
				return nil, errUnparsable
			}
			params[len(params)-1] += "\n"
		}
	}
	if printDepth != 0 || blockDepth != 0 || commentDepth != 0 || insideQuotes {
		return nil, errors.New("failed at splitting arguments, either an unbalanced jinja2 block or quotes: " + args)
	}
	return params, nil
}

func pyQuoteState(token string, quoteChar byte) byte {
	for i := 0; i < len(token); i++ {
		c := token[i]
		if (c == '"' || c == '\'') && (i == 0 || token[i-1] != '\\') {
			if quoteChar != 0 {
				if c == quoteChar {
					quoteChar = 0
				}
			} else {
				quoteChar = c
			}
		}
	}
	return quoteChar
}

func pyCountJinja(token string, depth int, open, close string) int {
	o, c := strings.Count(token, open), strings.Count(token, close)
	if o != c {
		depth += o - c
		if depth < 0 {
			depth = 0
		}
	}
	return depth
}

// pyJoinArgs is join_args.
func pyJoinArgs(s []string) string {
	var b strings.Builder
	for _, p := range s {
		if b.Len() == 0 || strings.HasSuffix(b.String(), "\n") {
			b.WriteString(p)
		} else {
			b.WriteString(" " + p)
		}
	}
	return b.String()
}

// rawKeys are the k=v words parse_kv takes out of a free form
// (check_raw): the others stay in the command.
var rawKeys = map[string]bool{"creates": true, "removes": true, "chdir": true, "executable": true,
	"warn": true, "stdin": true, "stdin_add_newline": true, "strip_empty_ends": true}

// pyParseKV is parse_kv(args, check_raw): k=v words become options
// (values unquoted), other words `_raw_params` (with check_raw only the
// words of rawKeys are options).
func pyParseKV(args string, checkRaw bool) (map[string]any, error) {
	words, err := pySplitArgs(args)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	var raw []string
	for _, orig := range words {
		x := decodeEscapes(orig)
		if !strings.Contains(x, "=") {
			raw = append(raw, orig)
			continue
		}
		pos := -1
		for i := 1; i < len(x); i++ {
			if x[i] == '=' && x[i-1] != '\\' {
				pos = i
				break
			}
		}
		if pos < 0 {
			raw = append(raw, strings.ReplaceAll(x, `\=`, "="))
			continue
		}
		k, v := x[:pos], x[pos+1:]
		if checkRaw && !rawKeys[k] {
			raw = append(raw, orig)
			continue
		}
		out[strings.TrimSpace(k)] = pyUnquote(strings.TrimSpace(v))
	}
	if len(raw) > 0 {
		out["_raw_params"] = pyJoinArgs(raw)
	}
	return out, nil
}

// pyUnquote is parsing/quoting.py's unquote.
func pyUnquote(s string) string {
	if len(s) > 1 && s[0] == s[len(s)-1] && (s[0] == '"' || s[0] == '\'') && s[len(s)-2] != '\\' {
		return s[1 : len(s)-1]
	}
	return s
}
