package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// unknownKeys walks the YAML document alongside the Go type and names every
// mapping key the schema does not know, as "a.b[2].c".
func unknownKeys(doc *yaml.Node, v any) []string {
	var out []string
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	walkUnknown(root, reflect.TypeOf(v), "", &out)
	return out
}

func walkUnknown(n *yaml.Node, t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			fields[name] = f.Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			full := key
			if path != "" {
				full = path + "." + key
			}
			ft, ok := fields[key]
			if !ok {
				*out = append(*out, full)
				continue
			}
			walkUnknown(n.Content[i+1], ft, full, out)
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, item := range n.Content {
			walkUnknown(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}
