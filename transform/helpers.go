package transform

import (
	"strconv"
	"strings"
)

// Int returns v as an int64 when it holds a whole number (for Go mappers).
func Int(v Value) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case uint64:
		return int64(x), x <= 1<<63-1
	case float64:
		return int64(x), x == float64(int64(x))
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	if s, ok := text(v); ok {
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// Text returns the text of a string-like value, or "" (for Go mappers).
func Text(v Value) string {
	s, _ := text(v)
	return strings.Clone(s) // text views []byte in place; mappers may keep this
}

// Columns resolves column names to indexes for a Go mapper's Bind; a missing
// column is a *ColumnError.
func Columns(cols []Column, names ...string) ([]int, error) {
	idx := make([]int, len(names))
	for i, n := range names {
		if idx[i] = ColumnIndex(cols, n); idx[i] < 0 {
			return nil, &ColumnError{Key: n, Column: n, Have: columnNames(cols)}
		}
	}
	return idx, nil
}
