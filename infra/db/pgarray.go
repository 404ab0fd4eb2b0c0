package db

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/sqlfeed/sqlfeed/row"
)

// parsePGArray parses the text form of a Postgres array ({1,2,NULL},
// {{"a b","c"},{d,e}}, [0:1]={1,2}) into nested []any whose elements are the
// transform values of col.Elem (numbers, booleans, decimals, text...).
func parsePGArray(s string, col *row.Column) (row.Value, error) {
	if strings.HasPrefix(s, "[") { // explicit bounds: "[0:2]={...}"
		if i := strings.Index(s, "="); i >= 0 {
			s = s[i+1:]
		}
	}
	p := &pgArrayParser{s: s, col: col}
	v, err := p.array()
	if err != nil {
		return nil, fmt.Errorf("array %q: %w", truncate(s, 40), err)
	}
	if p.i != len(p.s) {
		return nil, fmt.Errorf("array %q: trailing text", truncate(s, 40))
	}
	return v, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

type pgArrayParser struct {
	s   string
	i   int
	col *row.Column
}

func (p *pgArrayParser) array() ([]any, error) {
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return nil, fmt.Errorf("want { at %d", p.i)
	}
	p.i++
	items := []any{}
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return items, nil
	}
	for {
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("unterminated")
		}
		var item any
		var err error
		switch p.s[p.i] {
		case '{':
			item, err = p.array()
		case '"':
			var text string
			text, err = p.quoted()
			if err == nil {
				item, err = pgElem(text, p.col)
			}
		default:
			start := p.i
			for p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != '}' {
				p.i++
			}
			text := p.s[start:p.i]
			if text == "NULL" {
				item = nil
			} else {
				item, err = pgElem(text, p.col)
			}
		}
		if err != nil {
			return nil, err
		}
		items = append(items, item)
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("unterminated")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return items, nil
		default:
			return nil, fmt.Errorf("unexpected %q at %d", p.s[p.i], p.i)
		}
	}
}

func (p *pgArrayParser) quoted() (string, error) {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '\\':
			p.i++
			if p.i < len(p.s) {
				b.WriteByte(p.s[p.i])
			}
		case '"':
			p.i++
			return b.String(), nil
		default:
			b.WriteByte(c)
		}
		p.i++
	}
	return "", fmt.Errorf("unterminated quoted element")
}

// pgElem converts the text of one array element to the value of the element kind.
func pgElem(text string, col *row.Column) (any, error) {
	switch col.Elem {
	case row.KindDecimal:
		return row.Decimal(text), nil
	case row.KindBool:
		switch text {
		case "t":
			return true, nil
		case "f":
			return false, nil
		}
		return nil, fmt.Errorf("boolean %q", text)
	case row.KindBase64: // bytea's hex text form: \x0102
		if h, ok := strings.CutPrefix(text, `\x`); ok {
			b, err := hex.DecodeString(h)
			if err != nil {
				return nil, fmt.Errorf("bytea %q: %w", truncate(text, 20), err)
			}
			return b, nil
		}
	}
	// Integers, floats, times, JSON and text: their text is what Env expects.
	return text, nil
}
