package samtemplate

import (
	"go.yaml.in/yaml/v3"
)

// get returns the value of key in mapping n, or nil.
func get(n *yaml.Node, keys ...string) *yaml.Node {
	for _, key := range keys {
		if n == nil {
			return nil
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
			n = n.Content[0]
		}
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

// str returns a scalar's text: a plain value, or the argument of a short-form
// intrinsic such as !Sub "…" or !Ref X. Long forms ({"Fn::Sub": "…"},
// {"Ref": X}) give their string argument too.
func str(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value
	case yaml.MappingNode:
		if len(n.Content) == 2 {
			switch n.Content[0].Value {
			case "Fn::Sub", "Ref":
				return str(n.Content[1])
			}
		}
	case yaml.SequenceNode:
		// !Sub ["…", {vars}]
		if n.Tag == "!Sub" && len(n.Content) > 0 {
			return str(n.Content[0])
		}
	}
	return ""
}

// list returns the items of a sequence, or the node itself for a single scalar.
func list(n *yaml.Node) []*yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.SequenceNode && n.Tag != "!Sub" && n.Tag != "!If" && n.Tag != "!GetAtt" {
		return n.Content
	}
	return []*yaml.Node{n}
}

// strs returns the strings of a sequence (or of one scalar).
func strs(n *yaml.Node) []string {
	var out []string
	for _, c := range list(n) {
		out = append(out, str(c))
	}
	return out
}

// resource is one entry of Resources.
type resource struct {
	Name  string
	Type  string
	Props *yaml.Node
	Node  *yaml.Node
}

// resources lists the template's resources of the given types (all when none).
func resources(doc *yaml.Node, types ...string) []resource {
	rs := get(doc, "Resources")
	if rs == nil || rs.Kind != yaml.MappingNode {
		return nil
	}
	var out []resource
	for i := 0; i+1 < len(rs.Content); i += 2 {
		r := resource{Name: rs.Content[i].Value, Node: rs.Content[i+1]}
		r.Type = str(get(r.Node, "Type"))
		r.Props = get(r.Node, "Properties")
		if len(types) == 0 {
			out = append(out, r)
			continue
		}
		for _, t := range types {
			if r.Type == t {
				out = append(out, r)
			}
		}
	}
	return out
}

// each calls f for every mapping pair of n.
func each(n *yaml.Node, f func(key string, v *yaml.Node)) {
	if n == nil || n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		f(n.Content[i].Value, n.Content[i+1])
	}
}
