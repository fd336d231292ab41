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
		structFields(t, fields)
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

// structFields maps the YAML keys of t's fields, with those of inlined
// structs, to their types.
func structFields(t reflect.Type, fields map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")
		if len(tag) > 1 && tag[1] == "inline" && f.Type.Kind() == reflect.Struct {
			structFields(f.Type, fields)
			continue
		}
		if tag[0] == "" || tag[0] == "-" {
			continue
		}
		fields[tag[0]] = f.Type
	}
}
