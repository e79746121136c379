// The oracle for the comment cases of crates/render/tests/sops_formats.rs: each YAML
// document of a JSON array read and written back as sops 3.13's YAML store does
// (stores/yaml: comments become items of their mapping or sequence on the way in and
// head, line and foot comments of the nodes on the way out), with go-yaml v3, printing
// a JSON array of {"tree", "yaml"}. Each input is read with a `sops:` block after it,
// as a SOPS file has (what follows the last comments decides where go-yaml puts them),
// and that block is taken out again before writing. Regenerate the fixture's outputs with
//   python3 -c "import json;print(json.dumps([c['input'] for c in json.load(open('crates/render/tests/data/sops_yaml_comments.json'))]))" \
//   | GOPATH=/usr/share/gocode GO111MODULE=off go run crates/render/tests/oracle/sops_yaml_comments.go
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

type comment struct {
	text   string
	inline bool
}
type item struct {
	key   interface{} // string or comment
	value interface{}
}

func comments(c string, inline bool) []comment {
	var out []comment
	if c == "" {
		return out
	}
	for _, l := range strings.Split(c, "\n") {
		if l != "" {
			out = append(out, comment{l[1:], inline})
		}
	}
	return out
}
func asItems(cs []comment) []item {
	var out []item
	for _, c := range cs {
		out = append(out, item{key: c})
	}
	return out
}
func asList(cs []comment) []interface{} {
	var out []interface{}
	for _, c := range cs {
		out = append(out, c)
	}
	return out
}

func value(n *yaml.Node, handled bool) interface{} {
	switch n.Kind {
	case yaml.SequenceNode:
		var r []interface{}
		if !handled {
			r = append(r, asList(comments(n.HeadComment, false))...)
			r = append(r, asList(comments(n.LineComment, false))...)
		}
		for _, it := range n.Content {
			r = append(r, asList(comments(it.HeadComment, false))...)
			r = append(r, asList(comments(it.LineComment, true))...)
			r = append(r, value(it, true))
			r = append(r, asList(comments(it.FootComment, false))...)
		}
		if !handled {
			r = append(r, asList(comments(n.FootComment, false))...)
		}
		if r == nil {
			r = []interface{}{}
		}
		return r
	case yaml.MappingNode:
		return branch(n, nil, handled)
	default:
		var v interface{}
		n.Decode(&v)
		return v
	}
}

func branch(n *yaml.Node, b []item, handled bool) []item {
	if !handled {
		b = append(b, asItems(comments(n.HeadComment, false))...)
		b = append(b, asItems(comments(n.LineComment, false))...)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			b = branch(c, b, false)
		}
	case yaml.MappingNode:
		for i := 0; i < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			b = append(b, asItems(comments(k.HeadComment, false))...)
			b = append(b, asItems(comments(k.LineComment, false))...)
			hv := v.Kind == yaml.ScalarNode || v.Kind == yaml.AliasNode
			if hv {
				b = append(b, asItems(comments(v.HeadComment, false))...)
				b = append(b, asItems(comments(v.LineComment, true))...)
			}
			var kv interface{}
			k.Decode(&kv)
			b = append(b, item{key: fmt.Sprint(kv), value: value(v, hv)})
			if hv {
				b = append(b, asItems(comments(v.FootComment, false))...)
			}
			b = append(b, asItems(comments(k.FootComment, false))...)
		}
	}
	if !handled {
		b = append(b, asItems(comments(n.FootComment, false))...)
	}
	if b == nil {
		b = []item{}
	}
	return b
}

// ---- emission, as sops's YAML store builds nodes
func head(n *yaml.Node, cs []string) []string {
	if len(cs) > 0 {
		c := "#" + strings.Join(cs, "\n#")
		if n.HeadComment != "" {
			n.HeadComment = c + "\n" + n.HeadComment
		} else {
			n.HeadComment = c
		}
	}
	return nil
}
func foot(n *yaml.Node, cs []string) []string {
	if len(cs) > 0 {
		c := "#" + strings.Join(cs, "\n#")
		if n.FootComment != "" {
			n.FootComment += "\n" + c
		} else {
			n.FootComment = c
		}
	}
	return nil
}
func line(n *yaml.Node, cs []string) []string {
	if len(cs) > 0 {
		c := "#" + strings.Join(cs, "\n#")
		if n.LineComment != "" {
			n.LineComment += "\n" + c
		} else {
			n.LineComment = c
		}
	}
	return nil
}
func toNode(v interface{}) *yaml.Node {
	switch v := v.(type) {
	case []item:
		m := &yaml.Node{Kind: yaml.MappingNode}
		emitBranch(v, m)
		return m
	case []interface{}:
		s := &yaml.Node{Kind: yaml.SequenceNode}
		var hc, ic []string
		begin := true
		for _, it := range v {
			if c, ok := it.(comment); ok {
				if c.inline {
					ic = append(ic, c.text)
				} else {
					hc = append(hc, c.text)
				}
				continue
			}
			if begin {
				hc = head(s, hc)
				begin = false
			}
			n := toNode(it)
			hc = head(n, hc)
			ic = line(n, ic)
			s.Content = append(s.Content, n)
		}
		hc = append(hc, ic...)
		if len(hc) > 0 {
			if begin {
				head(s, hc)
			} else {
				foot(s.Content[len(s.Content)-1], hc)
			}
		}
		return s
	default:
		n := &yaml.Node{}
		n.Encode(v)
		return n
	}
}
func emitBranch(b []item, m *yaml.Node) {
	var hc, ic []string
	begin := true
	for _, it := range b {
		if c, ok := it.key.(comment); ok {
			if c.inline {
				ic = append(ic, c.text)
			} else {
				hc = append(hc, c.text)
			}
			continue
		}
		if begin {
			hc = head(m, hc)
			begin = false
		}
		k := &yaml.Node{}
		k.Encode(it.key)
		hc = head(k, hc)
		vn := toNode(it.value)
		ic = line(vn, ic)
		m.Content = append(m.Content, k, vn)
	}
	hc = append(hc, ic...)
	if len(hc) > 0 {
		if begin {
			head(m, hc)
		} else {
			foot(m.Content[len(m.Content)-2], hc)
		}
	}
}

// tree as JSON: comments become {"#": text} or {"#inline": text}; a mapping is a list of [key, value] pairs
func js(v interface{}) interface{} {
	switch v := v.(type) {
	case []item:
		out := []interface{}{}
		for _, it := range v {
			if c, ok := it.key.(comment); ok {
				out = append(out, js(c))
			} else {
				out = append(out, []interface{}{it.key, js(it.value)})
			}
		}
		return map[string]interface{}{"map": out}
	case []interface{}:
		out := []interface{}{}
		for _, it := range v {
			out = append(out, js(it))
		}
		return map[string]interface{}{"seq": out}
	case comment:
		if v.inline {
			return map[string]interface{}{"#inline": v.text}
		}
		return map[string]interface{}{"#": v.text}
	default:
		return v
	}
}

func main() {
	in, _ := io.ReadAll(os.Stdin)
	var docs []string
	json.Unmarshal(in, &docs)
	var outs []interface{}
	for _, d := range docs {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(d+"sops:\n    version: 3.13.2\n"), &n); err != nil {
			outs = append(outs, map[string]interface{}{"error": err.Error()})
			continue
		}
		t := branch(&n, nil, false)
		// The metadata goes, as ExtractMetadata takes it out; comments stay.
		var kept []item
		for _, it := range t {
			if k, ok := it.key.(string); ok && k == "sops" {
				continue
			}
			kept = append(kept, it)
		}
		t = kept
		m := yaml.Node{Kind: yaml.MappingNode}
		emitBranch(t, &m)
		doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{&m}}
		var b bytes.Buffer
		e := yaml.NewEncoder(&b)
		e.SetIndent(4)
		e.Encode(doc)
		e.Close()
		outs = append(outs, map[string]interface{}{"tree": js(t), "yaml": b.String()})
	}
	o, _ := json.Marshal(outs)
	fmt.Println(string(o))
}
