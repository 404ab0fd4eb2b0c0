package db

import (
	"fmt"
	"strings"
)

// Key-range reading for sharded feeds (CONTRACT §3 "Paged feeds"): a shard
// reads the rows whose key is in [lo, hi), either through the query wrapped
// as SELECT * FROM (query) q WHERE by >= lo AND by < hi, which the engines
// push into the query so the key's index is used, or through the query's own
// :lo and :hi placeholders (NULL: unbounded), bound instead.

// HasRangePlaceholders reports whether query writes its key range itself
// with :lo or :hi (outside strings, quoted names and comments).
func HasRangePlaceholders(engine, query string) bool {
	_, names := bindPlaceholders(engine, query)
	return len(names) > 0
}

// RangeQuery returns the SQL and arguments reading, in key order, the rows
// of query whose column by is in [lo, hi); a nil bound is unbounded. A query
// with :lo/:hi placeholders gets them bound (NULL for a nil bound) and runs
// as written; another is wrapped with the range condition and ORDER BY by
// (MariaDB ignores the ORDER BY of a derived table). by is the column's name
// exactly as the query returns it (Describe): it is quoted.
func RangeQuery(engine, query, by string, lo, hi any) (string, []any) {
	if q, names := bindPlaceholders(engine, query); len(names) > 0 {
		if engine == "postgres" {
			return q, []any{lo, hi}
		}
		args := make([]any, len(names))
		for i, n := range names {
			args[i] = lo
			if n == "hi" {
				args[i] = hi
			}
		}
		return q, args
	}
	col := column(engine, by)
	var conds []string
	var args []any
	if lo != nil {
		args = append(args, lo)
		conds = append(conds, col+" >= "+param(engine, len(args)))
	}
	if hi != nil {
		args = append(args, hi)
		conds = append(conds, col+" < "+param(engine, len(args)))
	}
	q := "SELECT * FROM (" + inner(query) + "\n) q"
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	return q + " ORDER BY " + col, args
}

// UnboundedQuery returns query with its :lo and :hi placeholders written as
// NULL: all its rows (an unsharded run, Describe, the plan's MIN/MAX).
func UnboundedQuery(engine, query string) string {
	t := tokenizer{s: query, engine: engine}
	var b strings.Builder
	last := 0
	for _, at := range placeholders(&t) {
		b.WriteString(query[last:at])
		b.WriteString("NULL")
		last = at + 3
	}
	b.WriteString(query[last:])
	return b.String()
}

// bindPlaceholders replaces :lo and :hi outside strings, quoted names and
// comments with the engine's parameters ($1 and $2 on PostgreSQL, ? on the
// others) and returns the SQL and the placeholders' names in order.
func bindPlaceholders(engine, query string) (string, []string) {
	t := tokenizer{s: query, engine: engine}
	var b strings.Builder
	var names []string
	last := 0
	for _, at := range placeholders(&t) {
		name := query[at+1 : at+3]
		names = append(names, name)
		p := "?"
		if engine == "postgres" {
			p = map[string]string{"lo": "$1", "hi": "$2"}[name]
		}
		b.WriteString(query[last:at])
		b.WriteString(p)
		last = at + 3
	}
	b.WriteString(query[last:])
	return b.String(), names
}

// placeholders returns the offsets of the :lo and :hi placeholders outside
// strings, quoted names and comments (not PostgreSQL's :: casts).
func placeholders(t *tokenizer) []int {
	var at []int
	for {
		tok, ok := t.next()
		if !ok {
			return at
		}
		i := t.i - 1
		if tok != ":" || (i > 0 && t.s[i-1] == ':') {
			continue
		}
		save := t.i
		name, ok := t.next()
		if ok && t.i-len(name) == save && (name == "lo" || name == "hi") {
			at = append(at, i)
		} else {
			t.i = save
		}
	}
}

// inner is query without its trailing semicolons, to nest in another.
func inner(query string) string {
	return strings.TrimRight(strings.TrimSpace(query), "; \t\n")
}

// column is the key column as the wrapping query names it.
func column(engine, by string) string { return quoteName(engine, by) }

// param is the engine's n-th (from 1) query parameter.
func param(engine string, n int) string {
	if engine == "postgres" {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// quoteName quotes an identifier for engine.
func quoteName(engine, name string) string {
	if engine == "mysql" {
		return "`" + strings.ReplaceAll(name, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// MinMaxQuery returns the SQL reading the lowest and highest value of column
// by over query's rows (the sharding plan's fallback without a page index).
func MinMaxQuery(engine, query, by string) string {
	col := column(engine, by)
	return "SELECT MIN(" + col + "), MAX(" + col + ") FROM (" + inner(query) + "\n) q"
}
