package transform

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	json "github.com/goccy/go-json"
)

// Env is the per-run environment of value conversion: the feed's time zone and
// the warnings counted while converting (NaN, invalid UTF-8, ...).
type Env struct {
	Loc      *time.Location
	Warnings int
	// FirstWarning describes the first warning of the run.
	FirstWarning string
}

// NewEnv returns an Env reading zone-less times in loc (UTC when nil).
func NewEnv(loc *time.Location) *Env {
	if loc == nil {
		loc = time.UTC
	}
	return &Env{Loc: loc}
}

func (e *Env) warn(col *Column, format string, args ...any) {
	e.Warnings++
	if e.FirstWarning == "" {
		e.FirstWarning = fmt.Sprintf("column %q: ", col.Name) + fmt.Sprintf(format, args...)
	}
}

// ValueError reports a value that cannot be published as the requested kind.
type ValueError struct {
	Column string
	Kind   Kind
	Value  string
}

// Error names the column, the value (shortened) and the kind it cannot be published as.
func (e *ValueError) Error() string {
	return fmt.Sprintf("column %q: cannot publish %s as %s", e.Column, e.Value, e.Kind)
}

func badValue(col *Column, to Kind, v any) error {
	s := fmt.Sprintf("%v", v)
	if b, ok := v.([]byte); ok {
		s = string(b)
	}
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return &ValueError{Column: col.Name, Kind: to, Value: strconv.Quote(s)}
}

// Append appends the JSON form of v, a value of column col, published as kind to
// (KindAny: the column's own kind). scale >= 0 fixes the number of fraction
// digits of a decimal.
func (e *Env) Append(dst []byte, v any, col *Column, to Kind, scale int) ([]byte, error) {
	if v == nil {
		return append(dst, "null"...), nil
	}
	if to == KindAny {
		to = col.Kind
	}
	switch to {
	case KindAny:
		return e.appendAny(dst, v, col)
	case KindInt:
		return e.appendInt(dst, v, col)
	case KindDecimal:
		return e.appendDecimal(dst, v, col, scale)
	case KindFloat:
		return e.appendFloat(dst, v, col)
	case KindString:
		return e.appendString(dst, v, col, scale)
	case KindBool:
		return e.appendBool(dst, v, col)
	case KindDate, KindDateTime, KindTime:
		return e.appendTime(dst, v, col, to)
	case KindJSON:
		return e.appendJSON(dst, v, col)
	case KindBase64:
		return appendBase64(dst, v, col)
	case KindArray:
		return e.appendArray(dst, v, col)
	}
	return dst, badValue(col, to, v)
}

func (e *Env) appendAny(dst []byte, v any, col *Column) ([]byte, error) {
	switch x := v.(type) {
	case int64, uint64, Decimal:
		return e.appendDecimal(dst, x, col, -1)
	case string:
		return e.appendQuoted(dst, x, col), nil
	case float64:
		return e.appendFloat(dst, x, col)
	case bool:
		return e.appendBool(dst, x, col)
	case []byte:
		return appendBase64(dst, x, col)
	case time.Time:
		return e.appendTime(dst, x, col, KindDateTime)
	case []any:
		return e.appendArray(dst, x, col)
	}
	return dst, badValue(col, KindAny, v)
}

// view returns the bytes of b as a string without copying them.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// text returns the text form of a string-like value.
// The string of a []byte is a view, valid only while the row is: callers must
// not keep it.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return view(x), true
	case Decimal:
		return string(x), true
	}
	return "", false
}

func (e *Env) appendInt(dst []byte, v any, col *Column) ([]byte, error) {
	switch x := v.(type) {
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	case bool:
		if x {
			return append(dst, '1'), nil
		}
		return append(dst, '0'), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.AppendInt(dst, int64(x), 10), nil
		}
	case time.Time:
		return strconv.AppendInt(dst, int64(x.Year()), 10), nil // YEAR columns
	default:
		if s, ok := text(v); ok && isInteger(s) {
			return append(dst, s...), nil
		}
	}
	return dst, badValue(col, KindInt, v)
}

func isInteger(s string) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) == 1 || s[0] != '0'
}

// isDecimal reports whether s is a plain decimal literal: -?digits(.digits)?
func isDecimal(s string) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0 && i < len(s)-1:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

func (e *Env) appendDecimal(dst []byte, v any, col *Column, scale int) ([]byte, error) {
	var s string
	switch x := v.(type) {
	case int64:
		s = strconv.FormatInt(x, 10)
	case uint64:
		s = strconv.FormatUint(x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			e.warn(col, "%v published as null", x)
			return append(dst, "null"...), nil
		}
		if scale < 0 {
			return strconv.AppendFloat(dst, x, 'f', -1, 64), nil
		}
		// The float's shortest text, then withScale below, as for an exact
		// decimal: AppendFloat with a precision rounds the binary value half
		// to even (2.5 → "2", 1.005 → "1.00"), which MySQL's and PostgreSQL's
		// exact decimals do not (3, 1.01).
		s = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		t, ok := text(v)
		if !ok {
			return dst, badValue(col, KindDecimal, v)
		}
		if t == "NaN" || t == "Infinity" || t == "-Infinity" {
			e.warn(col, "%s published as null", t)
			return append(dst, "null"...), nil
		}
		if !isDecimal(t) {
			return dst, badValue(col, KindDecimal, v)
		}
		s = t
	}
	if scale >= 0 {
		s = withScale(s, scale)
	}
	return append(dst, s...), nil
}

// withScale gives the decimal literal s exactly scale fraction digits, padding
// with zeros or rounding half away from zero.
func withScale(s string, scale int) string {
	frac := 0
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			frac = len(s) - 1 - i
			break
		}
	}
	switch {
	case frac == scale:
		return s
	case frac < scale:
		if frac == 0 && scale > 0 {
			s += "."
		}
		for ; frac < scale; frac++ {
			s += "0"
		}
		return s
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return s
	}
	return r.FloatString(scale)
}

func (e *Env) appendFloat(dst []byte, v any, col *Column) ([]byte, error) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	default:
		t, ok := text(v)
		if !ok {
			return dst, badValue(col, KindFloat, v)
		}
		switch t {
		case "NaN", "Infinity", "-Infinity", "inf", "-inf", "nan":
			e.warn(col, "%s published as null", t)
			return append(dst, "null"...), nil
		}
		var err error
		if f, err = strconv.ParseFloat(t, 64); err != nil {
			return dst, badValue(col, KindFloat, v)
		}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		e.warn(col, "%v published as null", f)
		return append(dst, "null"...), nil
	}
	return appendFloat64(dst, f), nil
}

// appendFloat64 formats f as the shortest decimal that reads back as f, in the
// notation encoding/json uses.
func appendFloat64(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

func (e *Env) appendBool(dst []byte, v any, col *Column) ([]byte, error) {
	var b bool
	switch x := v.(type) {
	case bool:
		b = x
	case int64:
		b = x != 0
	case uint64:
		b = x != 0
	default:
		t, ok := text(v)
		if !ok {
			return dst, badValue(col, KindBool, v)
		}
		switch t {
		case "1", "t", "true", "TRUE", "y", "\x01":
			b = true
		case "0", "f", "false", "FALSE", "n", "\x00":
		default:
			return dst, badValue(col, KindBool, v)
		}
	}
	return strconv.AppendBool(dst, b), nil
}

func (e *Env) appendString(dst []byte, v any, col *Column, scale int) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return e.appendQuoted(dst, x, col), nil
	case []byte:
		return e.appendQuoted(dst, view(x), col), nil
	}
	// A non-text value published as string: its natural JSON, quoted if bare;
	// null (NaN, ±Inf, zero dates: counted as warnings) stays null.
	var err error
	start := len(dst)
	dst, err = e.Append(dst, v, col, col.Kind, scale)
	if err != nil || (len(dst) > start && dst[start] == '"') || string(dst[start:]) == "null" {
		return dst, err
	}
	raw := string(dst[start:])
	return e.appendQuoted(dst[:start], raw, col), nil
}

const hex = "0123456789abcdef"

// appendQuoted appends s as a JSON string; invalid UTF-8 becomes U+FFFD and is
// counted as a warning; U+2028 and U+2029 are escaped. HTML characters are not.
func (e *Env) appendQuoted(dst []byte, s string, col *Column) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while they need no escaping (plain ASCII).
		for i+8 <= len(s) && plainASCII8(s, i) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			if e != nil && col != nil {
				e.warn(col, "invalid UTF-8 replaced by U+FFFD")
			}
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' { // line terminators in JavaScript strings
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', byte('8'+r-'\u2028'))
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plainASCII8 reports whether s[i:i+8] is ASCII with nothing to escape: no
// control character, quote or backslash (the bit tricks of "determine if a
// word has a byte less than n / equal to n", applied to all eight at once).
func plainASCII8(s string, i int) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
	less := (w - 0x20*ones) & ^w // a byte < 0x20
	q := w ^ '"'*ones
	bs := w ^ '\\'*ones
	quote := (q - ones) & ^q  // a byte == '"'
	back := (bs - ones) & ^bs // a byte == '\\'
	return (w|less|quote|back)&highs == 0
}

// AppendString appends s as a JSON string (for keys and mapper-made text).
func AppendString(dst []byte, s string) []byte {
	var e *Env
	return e.appendQuoted(dst, s, nil)
}

var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999-07",
	"2006-01-02",
}

func (e *Env) parseTime(s string) (t time.Time, zoned bool, ok bool) {
	for _, layout := range timeLayouts {
		if tt, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			zoned = len(layout) > 30 || layout == "2006-01-02 15:04:05.999999999-07"
			return tt, zoned, true
		}
	}
	return time.Time{}, false, false
}

func isZeroDate(s string) bool {
	return len(s) >= 10 && s[:10] == "0000-00-00"
}

func (e *Env) appendTime(dst []byte, v any, col *Column, to Kind) ([]byte, error) {
	var t time.Time
	zoned := col.Zoned
	switch x := v.(type) {
	case time.Time:
		t = x
	default:
		s, ok := text(v)
		if !ok {
			return dst, badValue(col, to, v)
		}
		if to == KindTime {
			if !isClock(s) {
				return dst, badValue(col, to, v)
			}
			return e.appendQuoted(dst, s, col), nil
		}
		if isZeroDate(s) {
			return append(dst, "null"...), nil
		}
		if s == "infinity" || s == "-infinity" { // Postgres
			e.warn(col, "%s published as null", s)
			return append(dst, "null"...), nil
		}
		var z bool
		if t, z, ok = e.parseTime(s); !ok {
			return dst, badValue(col, to, v)
		}
		zoned = zoned || z
	}
	if !zoned {
		t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), e.Loc)
	}
	dst = append(dst, '"')
	switch to {
	case KindDate:
		if zoned {
			t = t.In(e.Loc)
		}
		dst = t.AppendFormat(dst, "2006-01-02")
	case KindTime:
		if zoned {
			t = t.In(e.Loc)
		}
		dst = t.AppendFormat(dst, "15:04:05.999999999")
	default:
		dst = appendRFC3339(dst, t.UTC())
	}
	return append(dst, '"'), nil
}

// isClock reports whether s looks like a TIME value: [-]H+:MM:SS[.f+].
func isClock(s string) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	colons, digits := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == ':' && digits > 0:
			colons++
			digits = 0
		case c == '.' && colons == 2 && digits == 2:
			digits = 0
		default:
			return false
		}
	}
	return colons == 2 && digits > 0
}

func (e *Env) appendJSON(dst []byte, v any, col *Column) ([]byte, error) {
	var raw []byte
	switch x := v.(type) {
	case []byte:
		raw = x
	case string:
		raw = []byte(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return dst, badValue(col, KindJSON, v)
		}
		return append(dst, b...), nil
	}
	if !utf8.Valid(raw) {
		e.warn(col, "invalid UTF-8 in JSON replaced by U+FFFD")
		raw = []byte(string([]rune(string(raw))))
	}
	var err error
	if col.ValidJSON {
		dst, err = appendTrustedJSON(dst, raw)
	} else {
		// Text that only claims to be JSON (SQLite, `type: json` on text).
		dst, err = appendStrictJSON(dst, raw)
	}
	if err != nil {
		return dst, fmt.Errorf("column %q: %w", col.Name, err)
	}
	return dst, nil
}

func appendBase64(dst []byte, v any, col *Column) ([]byte, error) {
	var b []byte
	switch x := v.(type) {
	case []byte:
		b = x
	case string:
		b = []byte(x)
	default:
		return dst, badValue(col, KindBase64, v)
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"'), nil
}

func (e *Env) appendArray(dst []byte, v any, col *Column) ([]byte, error) {
	items, ok := v.([]any)
	if !ok {
		if s, isText := text(v); isText && col.Kind == KindArray {
			// Already JSON text from the adapter.
			return e.appendJSON(dst, s, col)
		}
		return dst, badValue(col, KindArray, v)
	}
	elem := *col
	elem.Kind = col.Elem
	dst = append(dst, '[')
	for i, it := range items {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if sub, nested := it.([]any); nested { // multi-dimensional array
			dst, err = e.appendArray(dst, sub, col)
		} else {
			dst, err = e.Append(dst, it, &elem, elem.Kind, -1)
		}
		if err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}

// appendRFC3339 appends t (UTC) as 2006-01-02T15:04:05[.fraction]Z with the
// fraction's trailing zeros removed, like time.RFC3339Nano, without its cost.
func appendRFC3339(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, time.RFC3339Nano)
	}
	dst = append(dst, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+min/10), byte('0'+min%10), ':',
		byte('0'+sec/10), byte('0'+sec%10))
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z')
}
