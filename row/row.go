// Package row is the vocabulary shared by the database adapters (infra/db),
// the config (infra/config) and the mappers (transform): a row's values, its
// columns and their JSON kinds, and the field specs a feed configures. It is a
// leaf: it imports nothing of sqlfeed, so adapters know nothing of mappers.
package row

import (
	"fmt"
	"strings"
)

// Decimal is an exact decimal number as the database returned it ("12.50").
// Database adapters return DECIMAL/NUMERIC values as Decimal so they never pass
// through float64.
type Decimal string

// Value is the set of normalised Go values a database adapter may put in a row:
//
//	nil, int64, uint64, float64, bool, Decimal, string, []byte, time.Time, []any
//
// []byte is interpreted by the column's Kind: text for KindString, the JSON text
// for KindJSON, digits for KindDecimal/KindInt, bytes for KindBase64. time.Time
// values of a column that is not Zoned hold a wall-clock time whose location is
// ignored and replaced by the feed's time zone.
type Value = any

// Kind is the JSON representation a column value is published as.
type Kind uint8

// The kinds of CONTRACT §4. KindAny means "decide from the value" (expressions
// whose type the driver does not report, e.g. SQLite aggregates).
const (
	KindAny Kind = iota
	KindInt
	KindDecimal
	KindFloat
	KindString
	KindBool
	KindDate
	KindDateTime
	KindTime
	KindJSON
	KindBase64
	KindArray
)

var kindNames = [...]string{
	KindAny:      "any",
	KindInt:      "int",
	KindDecimal:  "decimal",
	KindFloat:    "float",
	KindString:   "string",
	KindBool:     "bool",
	KindDate:     "date",
	KindDateTime: "datetime",
	KindTime:     "time",
	KindJSON:     "json",
	KindBase64:   "base64",
	KindArray:    "array",
}

// String returns the name used for the kind in config files (`type:`).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// ParseKind parses a `type:` value of a field spec.
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if name == s && Kind(k) != KindAny && Kind(k) != KindArray {
			return Kind(k), nil
		}
	}
	return KindAny, fmt.Errorf("unknown type %q (want one of int, decimal, float, string, bool, date, datetime, time, json, base64)", s)
}

// Column describes one result column as the database reports it.
type Column struct {
	Name   string // as returned by the query (aliases applied)
	DBType string // driver's database type name, upper case, e.g. "DECIMAL"
	Kind   Kind   // natural JSON kind of the column
	// Elem is the element kind when Kind is KindArray.
	Elem Kind
	// Nullable is false only when the driver reports the column NOT NULL.
	Nullable bool
	// Zoned is true for columns whose times carry a zone or instant
	// (TIMESTAMPTZ, MySQL TIMESTAMP read in UTC); other times are wall clock
	// times read in the feed's time zone.
	Zoned bool
	// ValidJSON is true for JSON columns whose server guarantees valid JSON
	// text (MySQL JSON, PostgreSQL json/jsonb); other text published as JSON
	// is checked strictly.
	ValidJSON bool
}

// ColumnIndex returns the index of the column named name, or -1. Names match
// exactly first, then case-insensitively (engines differ in identifier case).
func ColumnIndex(cols []Column, name string) int {
	for i, c := range cols {
		if c.Name == name {
			return i
		}
	}
	for i, c := range cols {
		if strings.EqualFold(c.Name, name) {
			return i
		}
	}
	return -1
}
