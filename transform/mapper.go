package transform

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Sink receives finished documents from a mapper.
type Sink interface {
	// WriteDoc takes one complete JSON document. The bytes are copied before
	// WriteDoc returns, so the mapper may reuse its buffer.
	WriteDoc(doc []byte) error
}

// Mapper turns a stream of rows into JSON documents.
type Mapper interface {
	// Bind checks the mapper against the query's columns (a field that names no
	// column is an error) and returns the JSON Schema of one document. env
	// converts values for the rest of the run.
	Bind(cols []Column, env *Env) (Schema, error)
	// Map takes the next row and writes the documents it completes to out.
	// The row slice and its []byte values are valid only during the call: a
	// mapper must copy whatever it keeps (the exporter reads rows ahead into
	// recycled batches whose bytes share memory) and must not modify them.
	Map(row []Value, out Sink) error
	// Flush writes any document still held after the last row.
	Flush(out Sink) error
}

// Schema is a JSON Schema (2020-12) fragment.
type Schema = map[string]any

// Factory builds a mapper for one feed.
type Factory func(spec Spec) (Mapper, error)

// Registry maps mapper names to factories. The zero value is ready to use.
type Registry struct {
	mu        sync.RWMutex
	factories map[string]Factory
}

// Register adds a factory under name; registering a name twice panics, as it is
// a programming error found at start-up (like database/sql.Register).
func (r *Registry) Register(name string, f Factory) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.factories == nil {
		r.factories = map[string]Factory{}
	}
	if _, dup := r.factories[name]; dup {
		panic("transform: mapper " + name + " registered twice")
	}
	r.factories[name] = f
}

// Lookup returns the factory registered under name.
func (r *Registry) Lookup(name string) (Factory, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.factories[name]
	return f, ok
}

// Names lists the registered mapper names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Check reports whether the mapper called name builds for spec; infra/config
// checks every feed's mapper through it.
func (r *Registry) Check(name string, spec Spec) error {
	_, err := r.New(name, spec)
	return err
}

// New builds the mapper called name for spec.
func (r *Registry) New(name string, spec Spec) (Mapper, error) {
	f, ok := r.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("mapper %q is not registered (known: %s)", name, strings.Join(r.Names(), ", "))
	}
	return f(spec)
}

// Default is the process-wide registry used by the exporter.
var Default = &Registry{}

// Register adds a mapper factory to the Default registry; call it from init.
func Register(name string, f Factory) { Default.Register(name, f) }

func init() {
	Register("fields", newFields)
	Register("group", newGroup)
	Register("raw", newRaw)
}

// Bind checks that no two of the query's columns share a name, then binds m
// to them (see Mapper.Bind). Names are compared ignoring case, as ColumnIndex
// matches them: a document could not hold both columns, nor a field tell them
// apart. Every exporter path binds through here, whatever the mapper.
func Bind(m Mapper, cols []Column, env *Env) (Schema, error) {
	seen := make(map[string]string, len(cols))
	for _, c := range cols {
		k := strings.ToLower(c.Name)
		if first, dup := seen[k]; dup {
			return nil, &DuplicateColumnError{First: first, Second: c.Name}
		}
		seen[k] = c.Name
	}
	return m.Bind(cols, env)
}

// DuplicateColumnError reports two result columns with the same name.
type DuplicateColumnError struct{ First, Second string }

// Error names the column and says how to fix the query.
func (e *DuplicateColumnError) Error() string {
	name := fmt.Sprintf("%q", e.First)
	if e.Second != e.First {
		name += fmt.Sprintf(" and %q", e.Second)
	}
	return fmt.Sprintf("duplicate column name: the query returns %s twice; give the columns distinct names with AS", name)
}

// ColumnError reports a field that names a column the query does not return.
type ColumnError struct {
	Pos, Key, Column string
	Have             []string
}

// Error names the key, the missing column and the columns there are.
func (e *ColumnError) Error() string {
	msg := fmt.Sprintf("field %q names column %q, which the query does not return (columns: %s)",
		e.Key, e.Column, strings.Join(e.Have, ", "))
	if e.Pos != "" {
		return e.Pos + ": " + msg
	}
	return msg
}

func columnNames(cols []Column) []string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return names
}
