package transform

import (
	"fmt"
	"strings"
)

// object is a compiled allowlist: the keys of one JSON object in config order,
// each either a column value (leaf) or a nested object.
type object struct {
	keys []*member
}

type member struct {
	key   []byte // `"key":`
	name  string
	child *object // nested object (dotted keys), or nil for a leaf
	spec  FieldSpec
	col   int
	info  *Column
	kind  Kind
}

// compileFields turns field specs into an object tree; dotted keys nest.
func compileFields(specs []FieldSpec) (*object, error) {
	root := &object{}
	for _, f := range specs {
		if f.Key == "" || f.Column == "" {
			return nil, fmt.Errorf("%sfield %q needs a key and a column", posPrefix(f.Pos), f.Key)
		}
		parts := strings.Split(f.Key, ".")
		obj := root
		for i, p := range parts {
			if p == "" {
				return nil, fmt.Errorf("%sfield key %q has an empty segment", posPrefix(f.Pos), f.Key)
			}
			m := obj.find(p)
			last := i == len(parts)-1
			switch {
			case m == nil:
				m = &member{name: p, key: append(AppendString(nil, p), ':')}
				obj.keys = append(obj.keys, m)
				if last {
					m.spec = f
				} else {
					m.child = &object{}
				}
			case last || m.child == nil:
				return nil, fmt.Errorf("%sfield key %q is given twice", posPrefix(f.Pos), f.Key)
			}
			obj = m.child
		}
	}
	return root, nil
}

func posPrefix(pos string) string {
	if pos == "" {
		return ""
	}
	return pos + ": "
}

func (o *object) find(name string) *member {
	for _, m := range o.keys {
		if m.name == name {
			return m
		}
	}
	return nil
}

// bind resolves column indexes and kinds, and returns the object's schema.
func (o *object) bind(cols []Column) (Schema, error) {
	props := map[string]any{}
	required := []string{}
	for _, m := range o.keys {
		if m.child != nil {
			s, err := m.child.bind(cols)
			if err != nil {
				return nil, err
			}
			props[m.name] = s
			required = append(required, m.name)
			continue
		}
		m.col = ColumnIndex(cols, m.spec.Column)
		if m.col < 0 {
			return nil, &ColumnError{Pos: m.spec.Pos, Key: m.spec.Key, Column: m.spec.Column, Have: columnNames(cols)}
		}
		m.info = &cols[m.col]
		m.kind = m.spec.Type
		if m.kind == KindAny {
			m.kind = m.info.Kind
		}
		props[m.name] = KindSchema(m.kind, m.info)
		if !m.spec.OmitNull {
			required = append(required, m.name)
		}
	}
	return Schema{"type": "object", "properties": props, "required": required, "additionalProperties": false}, nil
}

// appendObject appends the object built from row.
func (o *object) appendObject(dst []byte, row []Value, env *Env) ([]byte, error) {
	dst = append(dst, '{')
	first := true
	for _, m := range o.keys {
		if m.child == nil && m.spec.OmitNull && row[m.col] == nil {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, m.key...)
		var err error
		if m.child != nil {
			dst, err = m.child.appendObject(dst, row, env)
		} else {
			dst, err = env.Append(dst, row[m.col], m.info, m.kind, m.spec.Scale)
		}
		if err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// KindSchema returns the JSON Schema of a value of kind k from column col.
func KindSchema(k Kind, col *Column) Schema {
	var s Schema
	switch k {
	case KindInt:
		s = Schema{"type": "integer"}
	case KindDecimal:
		s = Schema{"type": "number"}
	case KindFloat:
		// NaN and ±Inf are published as null.
		return Schema{"type": []any{"number", "null"}}
	case KindString:
		s = Schema{"type": "string"}
	case KindBool:
		s = Schema{"type": "boolean"}
	case KindDate:
		s = Schema{"type": "string", "format": "date"}
	case KindDateTime:
		s = Schema{"type": "string", "format": "date-time"}
	case KindTime:
		s = Schema{"type": "string", "pattern": `^-?[0-9]{2,3}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$`}
	case KindBase64:
		s = Schema{"type": "string", "contentEncoding": "base64"}
	case KindArray:
		elem := *col
		elem.Kind, elem.Nullable = col.Elem, true
		s = Schema{"type": "array", "items": KindSchema(col.Elem, &elem)}
	default: // KindAny, KindJSON: any JSON value
		return Schema{}
	}
	if col == nil || col.Nullable || k == KindDate || k == KindDateTime || (k == KindString && nullAsString(col.Kind)) {
		// Zero dates (MySQL) are published as null too, and so are NaN and
		// ±Inf, also as strings.
		s["type"] = []any{s["type"], "null"}
	}
	return s
}

// nullAsString reports whether a value of kind k may publish as null with
// `type: string` although it is not NULL: NaN, ±Inf, zero dates.
func nullAsString(k Kind) bool {
	return k == KindFloat || k == KindDecimal || k == KindDate || k == KindDateTime || k == KindAny
}

// fieldsMapper publishes one document per row with the allowlisted keys.
type fieldsMapper struct {
	obj *object
	env *Env
	buf []byte
}

func newFields(spec Spec) (Mapper, error) {
	if len(spec.Fields) == 0 {
		return nil, fmt.Errorf("mapper fields needs at least one field (the allowlist); use mapper: raw to publish every column")
	}
	if spec.Group != nil {
		return nil, fmt.Errorf("mapper fields takes no group: use mapper: group")
	}
	obj, err := compileFields(spec.Fields)
	if err != nil {
		return nil, err
	}
	return &fieldsMapper{obj: obj}, nil
}

func (m *fieldsMapper) Bind(cols []Column, env *Env) (Schema, error) {
	m.env = env
	return m.obj.bind(cols)
}

func (m *fieldsMapper) Map(row []Value, out Sink) error {
	var err error
	if m.buf, err = m.obj.appendObject(m.buf[:0], row, m.env); err != nil {
		return err
	}
	return out.WriteDoc(m.buf)
}

func (m *fieldsMapper) Flush(Sink) error { return nil }

// rawMapper publishes every column under its own name (mapper: raw).
type rawMapper struct{ fieldsMapper }

func newRaw(spec Spec) (Mapper, error) {
	if len(spec.Fields) > 0 || spec.Group != nil {
		return nil, fmt.Errorf("mapper raw publishes every column and takes no fields or group")
	}
	return &rawMapper{}, nil
}

func (m *rawMapper) Bind(cols []Column, env *Env) (Schema, error) {
	specs := make([]FieldSpec, len(cols))
	for i, c := range cols {
		specs[i] = FieldSpec{Key: c.Name, Column: c.Name, Scale: -1}
	}
	obj := &object{}
	for i, s := range specs {
		// Column names may contain dots: raw keys never nest.
		obj.keys = append(obj.keys, &member{name: s.Key, key: append(AppendString(nil, s.Key), ':'), spec: specs[i]})
	}
	m.obj = obj
	return m.fieldsMapper.Bind(cols, env)
}
