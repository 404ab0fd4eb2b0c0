package paging

import (
	"bytes"
	"errors"
	"fmt"

	json "github.com/goccy/go-json"
)

// FieldKey returns a KeyFunc reading the top-level field name of each
// document: the raw JSON bytes of its value, exactly as published.
func FieldKey(name string) KeyFunc {
	return func(doc []byte) ([]byte, error) {
		v, err := TopLevel(doc, name)
		if err != nil {
			return nil, fmt.Errorf("pages.by field %q: %w", name, err)
		}
		return v, nil
	}
}

var errSyntax = errors.New("invalid JSON document")

// ErrNoKey is returned (wrapped) for a document without its key field.
var ErrNoKey = errors.New("the document has no such top-level field")

// TopLevel returns the raw bytes of the value of field name in the JSON
// object doc, without decoding the rest of it.
func TopLevel(doc []byte, name string) ([]byte, error) {
	i := skipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return nil, errSyntax
	}
	i = skipSpace(doc, i+1)
	if i < len(doc) && doc[i] == '}' {
		return nil, ErrNoKey
	}
	for i < len(doc) {
		if doc[i] != '"' {
			return nil, errSyntax
		}
		end, err := skipString(doc, i)
		if err != nil {
			return nil, err
		}
		k := doc[i:end]
		i = skipSpace(doc, end)
		if i >= len(doc) || doc[i] != ':' {
			return nil, errSyntax
		}
		i = skipSpace(doc, i+1)
		vend, err := skipValue(doc, i)
		if err != nil {
			return nil, err
		}
		if keyIs(k, name) {
			return doc[i:vend], nil
		}
		i = skipSpace(doc, vend)
		if i >= len(doc) {
			break
		}
		switch doc[i] {
		case ',':
			i = skipSpace(doc, i+1)
		case '}':
			return nil, ErrNoKey
		default:
			return nil, errSyntax
		}
	}
	return nil, errSyntax
}

// keyIs compares a quoted JSON key with name, decoding escapes when there are any.
func keyIs(quoted []byte, name string) bool {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == name
	}
	var s string
	return json.Unmarshal(quoted, &s) == nil && s == name
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errSyntax
}

// skipValue returns the index after the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errSyntax
	}
	j := i
	for j < len(b) {
		c := b[j]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		j++
	}
	if j == i {
		return 0, errSyntax
	}
	return j, nil
}
