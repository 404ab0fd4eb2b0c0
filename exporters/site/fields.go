package site

import (
	"sort"
	"strings"
)

// Field is one row of a feed page's field table, derived from the feed's
// JSON Schema.
type Field struct {
	Path     string // dotted key; "[]" marks the items of an array: tracks[].id
	Depth    int    // nesting level, 0 for top-level keys
	Type     string // JSON type(s) without null: "string", "number", "array of object", "any"
	Format   string // format, contentEncoding or pattern note ("date-time", "base64"), if any
	Nullable bool   // the value may be null
	Optional bool   // the key may be missing from a document
}

// Fields lists the keys of a document schema, depth first: each object's
// required keys in the schema's order (the mapper's field order), then its
// other keys by name.
func Fields(schema map[string]any) []Field {
	var out []Field
	walkObject(schema, "", 0, &out)
	return out
}

func walkObject(s map[string]any, prefix string, depth int, out *[]Field) {
	props, _ := s["properties"].(map[string]any)
	if len(props) == 0 {
		return
	}
	required := map[string]bool{}
	var order []string
	if req, ok := s["required"].([]any); ok {
		for _, r := range req {
			if name, ok := r.(string); ok && props[name] != nil && !required[name] {
				required[name] = true
				order = append(order, name)
			}
		}
	}
	var rest []string
	for name := range props {
		if !required[name] {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	for _, name := range append(order, rest...) {
		p, _ := props[name].(map[string]any)
		f := describe(p)
		f.Path, f.Depth, f.Optional = prefix+name, depth, !required[name]
		*out = append(*out, f)
		walkChildren(p, f.Path, depth+1, out)
	}
}

// walkChildren lists the nested keys of an object value or of an array's items.
func walkChildren(p map[string]any, path string, depth int, out *[]Field) {
	if p == nil {
		return
	}
	if _, ok := p["properties"]; ok {
		walkObject(p, path+".", depth, out)
	}
	if items, ok := p["items"].(map[string]any); ok {
		walkObject(items, path+"[].", depth, out)
		if _, nested := items["items"]; nested {
			walkChildren(items, path+"[]", depth, out)
		}
	}
}

// describe returns the type, nullability and format of one value schema.
func describe(p map[string]any) Field {
	var f Field
	types := typeList(p)
	var shown []string
	for _, t := range types {
		if t == "null" {
			f.Nullable = true
			continue
		}
		if t == "array" {
			if items, ok := p["items"].(map[string]any); ok {
				it := describe(items)
				if it.Type != "any" {
					t = "array of " + it.Type
				}
			}
		}
		shown = append(shown, t)
	}
	f.Type = strings.Join(shown, " or ")
	if f.Type == "" {
		f.Type = "any"
		if len(types) == 0 {
			f.Nullable = true // an empty schema admits null too
		}
	}
	for _, k := range []string{"format", "contentEncoding"} {
		if v, ok := p[k].(string); ok {
			f.Format = v
		}
	}
	if _, ok := p["pattern"].(string); ok && f.Format == "" {
		f.Format = "pattern"
	}
	return f
}

func typeList(p map[string]any) []string {
	switch t := p["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, v := range t {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
