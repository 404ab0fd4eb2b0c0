package transform

import (
	"fmt"
	"time"
)

// groupMapper folds consecutive rows with the same key into one document with a
// nested array (CONTRACT §3). Only the current group is held in memory (and,
// for text keys in no byte order, hashes of the ended keys: see keyOrder).
type groupMapper struct {
	doc   *object // document fields, from the group's first row
	item  *object // fields of each nested item
	spec  GroupSpec
	into  []byte // `"into":[`
	by    int
	items []int // item columns, to detect all-NULL LEFT JOIN rows
	env   *Env
	order keyOrder

	open  bool
	key   any
	buf   []byte
	nitem int
}

func newGroup(spec Spec) (Mapper, error) {
	g := spec.Group
	if g == nil || g.By == "" || g.Into == "" || len(g.Fields) == 0 {
		return nil, fmt.Errorf("mapper group needs group: {by: COLUMN, into: KEY, fields: {...}}")
	}
	doc, err := compileFields(spec.Fields)
	if err != nil {
		return nil, err
	}
	if doc.find(g.Into) != nil {
		return nil, fmt.Errorf("%sgroup key %q is also a document field", posPrefix(g.Pos), g.Into)
	}
	item, err := compileFields(g.Fields)
	if err != nil {
		return nil, err
	}
	into := append(AppendString([]byte{}, g.Into), ':', '[')
	return &groupMapper{doc: doc, item: item, spec: *g, into: into, order: keyOrder{feed: spec.Feed, column: g.By}}, nil
}

func (m *groupMapper) Bind(cols []Column, env *Env) (Schema, error) {
	m.env = env
	if m.by = ColumnIndex(cols, m.spec.By); m.by < 0 {
		return nil, &ColumnError{Pos: m.spec.Pos, Key: "group.by", Column: m.spec.By, Have: columnNames(cols)}
	}
	switch cols[m.by].Kind {
	case KindDate, KindDateTime, KindTime:
		m.order.time = true
	}
	docSchema, err := m.doc.bind(cols)
	if err != nil {
		return nil, err
	}
	itemSchema, err := m.item.bind(cols)
	if err != nil {
		return nil, err
	}
	m.items = m.item.columns(nil)
	docSchema["properties"].(map[string]any)[m.spec.Into] = Schema{"type": "array", "items": itemSchema}
	docSchema["required"] = append(docSchema["required"].([]string), m.spec.Into)
	return docSchema, nil
}

// columns lists the column indexes the object reads.
func (o *object) columns(dst []int) []int {
	for _, m := range o.keys {
		if m.child != nil {
			dst = m.child.columns(dst)
		} else {
			dst = append(dst, m.col)
		}
	}
	return dst
}

// groupKey returns a comparable copy of a key value.
func groupKey(v Value) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case time.Time:
		return x.UnixNano()
	case []any:
		return fmt.Sprint(x)
	}
	return v
}

func (m *groupMapper) Map(row []Value, out Sink) error {
	key := groupKey(row[m.by])
	if m.open && key != m.key {
		if err := m.Flush(out); err != nil {
			return err
		}
	}
	var err error
	if !m.open {
		if err = m.order.begin(key); err != nil {
			return err
		}
		m.open, m.key, m.nitem = true, key, 0
		if m.buf, err = m.doc.appendObject(m.buf[:0], row, m.env); err != nil {
			return err
		}
		// Reopen the object to add the nested array last.
		m.buf = m.buf[:len(m.buf)-1]
		if len(m.buf) > 1 {
			m.buf = append(m.buf, ',')
		}
		m.buf = append(m.buf, m.into...)
	}
	if m.allNull(row) {
		return nil
	}
	if m.nitem > 0 {
		m.buf = append(m.buf, ',')
	}
	m.nitem++
	m.buf, err = m.item.appendObject(m.buf, row, m.env)
	return err
}

func (m *groupMapper) allNull(row []Value) bool {
	for _, i := range m.items {
		if row[i] != nil {
			return false
		}
	}
	return true
}

func (m *groupMapper) Flush(out Sink) error {
	if !m.open {
		return nil
	}
	m.open = false
	m.buf = append(m.buf, ']', '}')
	return out.WriteDoc(m.buf)
}
