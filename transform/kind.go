// Package transform turns database rows into JSON documents through pluggable mappers.
//
// A row arrives as a slice of normalised Go values (see Value); each column carries
// a Kind, the JSON type it maps to (CONTRACT §4). Mappers write documents as JSON
// bytes into a Sink, so the hot path builds no map per row.
//
// The row vocabulary (Value, Decimal, Kind, Column and the specs) lives in the
// leaf package row, shared with the database and config adapters; the names
// here are aliases of it, so a Go mapper needs to import transform only.
package transform

import "github.com/sqlfeed/sqlfeed/row"

// Kind is the JSON representation a column value is published as (row.Kind).
type Kind = row.Kind

// The kinds of CONTRACT §4 (row.KindAny…): KindAny means "decide from the value".
const (
	KindAny      = row.KindAny
	KindInt      = row.KindInt
	KindDecimal  = row.KindDecimal
	KindFloat    = row.KindFloat
	KindString   = row.KindString
	KindBool     = row.KindBool
	KindDate     = row.KindDate
	KindDateTime = row.KindDateTime
	KindTime     = row.KindTime
	KindJSON     = row.KindJSON
	KindBase64   = row.KindBase64
	KindArray    = row.KindArray
)

// Column describes one result column as the database reports it (row.Column).
type Column = row.Column

// Decimal is an exact decimal number as the database returned it (row.Decimal).
type Decimal = row.Decimal

// Value is a normalised database value (row.Value).
type Value = row.Value

// FieldSpec is one published key of a feed (row.FieldSpec).
type FieldSpec = row.FieldSpec

// GroupSpec configures the group mapper's nested array (row.GroupSpec).
type GroupSpec = row.GroupSpec

// Spec is what a mapper factory receives (row.Spec).
type Spec = row.Spec

// ParseKind parses a `type:` value of a field spec (row.ParseKind).
func ParseKind(s string) (Kind, error) { return row.ParseKind(s) }

// ColumnIndex returns the index of the column named name, or -1 (row.ColumnIndex).
func ColumnIndex(cols []Column, name string) int { return row.ColumnIndex(cols, name) }
