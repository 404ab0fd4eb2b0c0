package transform

import (
	"fmt"
)

// MaxJSONDepth is how deeply arrays and objects may nest in an embedded JSON
// value; deeper values fail the feed (parsers of other languages give up on
// them, or worse).
const MaxJSONDepth = 128

// JSONError reports JSON text that cannot be embedded.
type JSONError struct {
	Offset int // byte offset in the value
	Msg    string
}

// Error returns the offset and what is wrong there.
func (e *JSONError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// appendStrictJSON checks that raw is exactly one JSON value as encoding/json
// accepts it (RFC 8259: no leading zeros, no raw control characters in
// strings, no trailing text...) nested at most MaxJSONDepth deep, and appends
// it without insignificant whitespace, U+2028 and U+2029 escaped. It reads
// raw once and allocates nothing beyond dst.
func appendStrictJSON(dst, raw []byte) ([]byte, error) {
	p := jsonParser{src: raw, dst: dst}
	p.space()
	if err := p.value(0); err != nil {
		return dst, err
	}
	if p.space(); p.i < len(p.src) {
		return dst, p.unexpected("after the value")
	}
	return p.dst, nil
}

type jsonParser struct {
	src, dst []byte
	i        int
}

func (p *jsonParser) fail(msg string) error { return &JSONError{Offset: p.i, Msg: msg} }

func (p *jsonParser) unexpected(where string) error {
	if p.i >= len(p.src) {
		return p.fail("unexpected end " + where)
	}
	if c := p.src[p.i]; c >= 0x20 && c < 0x7f {
		return p.fail(fmt.Sprintf("unexpected %q %s", c, where))
	}
	return p.fail(fmt.Sprintf("unexpected byte 0x%02x %s", p.src[p.i], where))
}

// peek returns the current byte, or 0 at the end (0 is never valid there).
func (p *jsonParser) peek() byte {
	if p.i < len(p.src) {
		return p.src[p.i]
	}
	return 0
}

func (p *jsonParser) space() {
	for p.i < len(p.src) {
		switch p.src[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// value parses the value at p.i, inside depth arrays or objects.
func (p *jsonParser) value(depth int) error {
	switch c := p.peek(); {
	case c == '{' || c == '[':
		if depth >= MaxJSONDepth {
			return p.fail(fmt.Sprintf("nested deeper than %d arrays and objects", MaxJSONDepth))
		}
		return p.container(depth + 1)
	case c == '"':
		return p.string()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	}
	return p.unexpected("where a value should be")
}

// container parses an object or array opening at p.i.
func (p *jsonParser) container(depth int) error {
	open := p.src[p.i]
	end := byte(']')
	if open == '{' {
		end = '}'
	}
	p.dst = append(p.dst, open)
	p.i++
	p.space()
	if p.peek() == end {
		p.i++
		p.dst = append(p.dst, end)
		return nil
	}
	for {
		if open == '{' {
			if p.peek() != '"' {
				return p.unexpected("where an object key should be")
			}
			if err := p.string(); err != nil {
				return err
			}
			if p.space(); p.peek() != ':' {
				return p.unexpected("after an object key")
			}
			p.i++
			p.dst = append(p.dst, ':')
			p.space()
		}
		if err := p.value(depth); err != nil {
			return err
		}
		p.space()
		switch p.peek() {
		case ',':
			p.i++
			p.dst = append(p.dst, ',')
			p.space()
			continue
		case end:
			p.i++
			p.dst = append(p.dst, end)
			return nil
		}
		return p.unexpected(fmt.Sprintf("where ',' or '%c' should be", end))
	}
}

// string parses a string opening at p.i.
func (p *jsonParser) string() error {
	start := p.i
	p.i++
	s := view(p.src)
	for p.i < len(p.src) {
		for p.i+8 <= len(s) && plainASCII8(s, p.i) {
			p.i += 8
		}
		if p.i >= len(p.src) {
			break
		}
		switch c := p.src[p.i]; {
		case c == '"':
			p.i++
			p.dst = append(p.dst, p.src[start:p.i]...)
			return nil
		case c < 0x20:
			return p.fail(fmt.Sprintf("control character 0x%02x in a string", c))
		case c == '\\':
			if err := p.escape(); err != nil {
				return err
			}
		case c == 0xe2 && p.i+2 < len(p.src) && p.src[p.i+1] == 0x80 && p.src[p.i+2]&^1 == 0xa8:
			// U+2028 or U+2029: escaped, as JavaScript before ES2019 ends a
			// string literal at them.
			p.dst = append(p.dst, p.src[start:p.i]...)
			p.dst = append(p.dst, '\\', 'u', '2', '0', '2', '8'+p.src[p.i+2]&1)
			p.i += 3
			start = p.i
		default:
			p.i++
		}
	}
	return p.fail("unterminated string")
}

// escape checks the escape sequence at p.i.
func (p *jsonParser) escape() error {
	p.i++
	switch p.peek() {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		p.i++
		return nil
	case 'u':
		for k := 1; k <= 4; k++ {
			if p.i+k >= len(p.src) || !isHex(p.src[p.i+k]) {
				p.i += k
				return p.fail(`\u needs four hexadecimal digits`)
			}
		}
		p.i += 5
		return nil
	}
	return p.unexpected("in an escape sequence")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number parses -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at p.i.
func (p *jsonParser) number() error {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	switch c := p.peek(); {
	case c == '0':
		p.i++
	case c >= '1' && c <= '9':
		p.digits()
	default:
		return p.unexpected("in a number")
	}
	if p.peek() == '.' {
		p.i++
		if !p.digits() {
			return p.unexpected("after a decimal point")
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if !p.digits() {
			return p.unexpected("in an exponent")
		}
	}
	p.dst = append(p.dst, p.src[start:p.i]...)
	return nil
}

// digits skips [0-9]* and reports whether there was one.
func (p *jsonParser) digits() bool {
	start := p.i
	for p.i < len(p.src) && p.src[p.i] >= '0' && p.src[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

func (p *jsonParser) literal(word string) error {
	for k := 0; k < len(word); k++ {
		if p.i >= len(p.src) || p.src[p.i] != word[k] {
			return p.unexpected("in literal " + word)
		}
		p.i++
	}
	p.dst = append(p.dst, word...)
	return nil
}

// appendTrustedJSON appends JSON text that the server guarantees valid (MySQL
// JSON, PostgreSQL json/jsonb) without insignificant whitespace, U+2028 and
// U+2029 escaped; it checks only the nesting depth.
func appendTrustedJSON(dst, raw []byte) ([]byte, error) {
	s := view(raw)
	depth, start := 0, 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			for i++; i < len(raw) && raw[i] != '"'; {
				for i+8 <= len(raw) && plainASCII8(s, i) {
					i += 8
				}
				switch {
				case i >= len(raw) || raw[i] == '"':
				case raw[i] == '\\':
					i += 2
				case raw[i] == 0xe2 && i+2 < len(raw) && raw[i+1] == 0x80 && raw[i+2]&^1 == 0xa8:
					dst = append(dst, raw[start:i]...)
					dst = append(dst, '\\', 'u', '2', '0', '2', '8'+raw[i+2]&1)
					i += 3
					start = i
				default:
					i++
				}
			}
		case ' ', '\n', '\t', '\r':
			dst = append(dst, raw[start:i]...)
			start = i + 1
		case '[', '{':
			if depth++; depth > MaxJSONDepth {
				return dst, &JSONError{Offset: i, Msg: fmt.Sprintf("nested deeper than %d arrays and objects", MaxJSONDepth)}
			}
		case ']', '}':
			depth--
		}
	}
	return append(dst, raw[start:]...), nil
}
