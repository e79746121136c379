// The oracle for the INI cases of crates/render/tests/sops_formats.rs: each INI document
// of a JSON array read and written back as sops 3.13's INI store does (stores/ini:
// sections and keys from gopkg.in/ini.v1 with AllowNonUniqueSections, a comment after the
// section header or key it was attached to; written through ini.v1's WriteTo), printing
// a JSON array of {"tree", "ini"}. ini.v1 1.66 (Debian's golang-gopkg-ini.v1-dev) ends the
// file with a blank line; 1.67, which sops 3.13 builds with, does not (upstream's
// functional test reads "[foo]\nbar = baz\n"), so the fixture drops it. Regenerate with
//   python3 -c "import json;print(json.dumps([c['input'] for c in json.load(open('crates/render/tests/data/sops_ini.json'))]))" \
//   | GOPATH=/usr/share/gocode GO111MODULE=off go run crates/render/tests/oracle/sops_ini.go
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/ini.v1"
)

type comment struct{ text string }
type item struct {
	key   interface{}
	value interface{}
}

func strip(c string) string {
	if strings.HasPrefix(c, ";") {
		c = strings.TrimLeft(c, "; ")
	} else if strings.HasPrefix(c, "#") {
		c = strings.TrimLeft(c, "# ")
	}
	return c
}

func load(in []byte) ([]item, error) {
	f, err := ini.LoadSources(ini.LoadOptions{AllowNonUniqueSections: true}, in)
	if err != nil {
		return nil, err
	}
	var b []item
	for _, s := range f.Sections() {
		var items []item
		if s.Comment != "" {
			items = append(items, item{key: comment{strip(s.Comment)}})
		}
		for _, k := range s.Keys() {
			items = append(items, item{key: k.Name(), value: k.Value()})
			if k.Comment != "" {
				items = append(items, item{key: comment{strip(k.Comment)}})
			}
		}
		b = append(b, item{key: s.Name(), value: items})
	}
	return b, nil
}

func emit(b []item) string {
	f := ini.Empty(ini.LoadOptions{AllowNonUniqueSections: true})
	f.DeleteSection(ini.DefaultSection)
	for _, it := range b {
		sec, _ := f.NewSection(it.key.(string))
		items := it.value.([]item)
		first := 0
		if len(items) > 0 {
			if c, ok := items[0].key.(comment); ok {
				sec.Comment = c.text
				first = 1
			}
		}
		var last *ini.Key
		for i := first; i < len(items); i++ {
			if c, ok := items[i].key.(comment); ok {
				if last != nil {
					last.Comment = c.text
				}
			} else {
				last, _ = sec.NewKey(items[i].key.(string), fmt.Sprint(items[i].value))
			}
		}
	}
	var buf bytes.Buffer
	f.WriteTo(&buf)
	return buf.String()
}

func js(b []item) interface{} {
	out := []interface{}{}
	for _, it := range b {
		if c, ok := it.key.(comment); ok {
			out = append(out, map[string]string{"#": c.text})
		} else if sub, ok := it.value.([]item); ok {
			out = append(out, []interface{}{it.key, js(sub)})
		} else {
			out = append(out, []interface{}{it.key, it.value})
		}
	}
	return out
}

func main() {
	in, _ := io.ReadAll(os.Stdin)
	var docs []string
	json.Unmarshal(in, &docs)
	var outs []interface{}
	for _, d := range docs {
		b, err := load([]byte(d))
		if err != nil {
			outs = append(outs, map[string]interface{}{"error": err.Error()})
			continue
		}
		outs = append(outs, map[string]interface{}{"tree": js(b), "ini": emit(b)})
	}
	o, _ := json.Marshal(outs)
	fmt.Println(string(o))
}
