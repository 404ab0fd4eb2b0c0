package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// TestHostileJSONText: text that only claims to be JSON (SQLite JSON columns,
// `type: json` on text) is embedded only when encoding/json accepts it and it
// nests at most MaxJSONDepth deep; the server's JSON types are only checked for
// depth. Embedded strings escape U+2028 and U+2029.
func TestHostileJSONText(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	untrusted := Column{Name: "doc", Kind: KindJSON}
	trusted := Column{Name: "doc", Kind: KindJSON, ValidJSON: true}
	text := Column{Name: "doc", Kind: KindString}
	tests := []struct {
		name string
		v    any
		col  Column
		want string // "" when the value must be refused
	}{
		{"extra key", []byte(`1,"admin":true`), untrusted, ""},
		{"not json", []byte(`not json at all`), untrusted, ""},
		{"leading zero", `{"a":01}`, text, ""},
		{"negative leading zero", `-01`, text, ""},
		{"raw control character", "[\"a\x01b\"]", text, ""},
		{"raw newline in a string", "\"a\nb\"", text, ""},
		{"100,000 deep", deep(100_000), text, ""},
		{"129 deep", deep(MaxJSONDepth + 1), text, ""},
		{"129 deep from the server", deep(MaxJSONDepth + 1), trusted, ""},
		{"trailing comma", `[1,]`, text, ""},
		{"single quotes", `{'a':1}`, text, ""},
		{"bad escape", `"\x"`, text, ""},
		{"short unicode escape", `"\u12"`, text, ""},
		{"empty", ``, text, ""},
		{"unterminated", `{"a":"b`, text, ""},
		{"128 deep", deep(MaxJSONDepth), text, deep(MaxJSONDepth)},
		{"128 deep from the server", deep(MaxJSONDepth), trusted, deep(MaxJSONDepth)},
		{"compacted", " {\"a\" :\t[1, -0.5e+3, true, null, \"x y\"]}\r\n", text, `{"a":[1,-0.5e+3,true,null,"x y"]}`},
		{"escapes kept", `"\"\\\/\b\f\n\r\t\u00e9"`, untrusted, `"\"\\\/\b\f\n\r\t\u00e9"`},
		{"line separators escaped", "{\"a\u2028\": \"b\u2029c\"}", text, `{"a\u2028":"b\u2029c"}`},
		{"line separators escaped from the server", "{\"a\u2028\": \"b\u2029c\"}", trusted, `{"a\u2028":"b\u2029c"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewEnv(nil).Append([]byte(`{"k":`), tt.v, &tt.col, KindJSON, -1)
			if tt.want == "" {
				var je *JSONError
				if err == nil || !errors.As(err, &je) || !strings.Contains(err.Error(), `column "doc": invalid JSON at byte`) {
					t.Fatalf("got %q, %v; want an invalid JSON error naming the column", got, err)
				}
				return
			}
			if err != nil || string(got) != `{"k":`+tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// TestHostileLineSeparators: U+2028 and U+2029 in text are written as
// \u2028 and \u2029 (CONTRACT §4), in values and keys.
func TestHostileLineSeparators(t *testing.T) {
	got, err := NewEnv(nil).Append(nil, "a\u2028b\u2029c 🎸\u2027\u202a", &Column{Name: "s", Kind: KindString}, KindAny, -1)
	if want := `"a\u2028b\u2029c 🎸` + "\u2027\u202a" + `"`; err != nil || string(got) != want {
		t.Fatalf("got %s, %v; want %s", got, err, want)
	}
	if got := AppendString(nil, "k\u2028"); string(got) != `"k\u2028"` {
		t.Fatalf("key %s", got)
	}
}

// TestHostileStringNaN: `type: string` publishes NaN and ±Inf as null, counted
// as warnings, as the number kinds do; never the string "null".
func TestHostileStringNaN(t *testing.T) {
	tests := []struct {
		v   any
		col Column
	}{
		{math.NaN(), Column{Name: "f", Kind: KindFloat}},
		{math.Inf(-1), Column{Name: "f", Kind: KindFloat}},
		{Decimal("NaN"), Column{Name: "n", Kind: KindDecimal}},
		{Decimal("Infinity"), Column{Name: "n", Kind: KindDecimal}},
	}
	for _, tt := range tests {
		env := NewEnv(nil)
		got, err := env.Append(nil, tt.v, &tt.col, KindString, -1)
		if err != nil || string(got) != "null" || env.Warnings != 1 {
			t.Errorf("%v: got %s, %v, %d warnings; want null with 1 warning", tt.v, got, err, env.Warnings)
		}
		if s := KindSchema(KindString, &tt.col); !bytes.Contains(mustJSON(t, s), []byte(`"null"`)) {
			t.Errorf("%v: schema %v does not allow null", tt.v, s)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzJSONValue checks the conversion of JSON text against encoding/json:
// text is embedded exactly when encoding/json accepts it (within
// MaxJSONDepth), as its compact form with U+2028/U+2029 escaped, and what is
// embedded always parses.
func FuzzJSONValue(f *testing.F) {
	for _, s := range []string{`{"a": [1, 2.50, {"b": null}], "c": "é🎉"}`, `1,"admin":true`, `not json at all`,
		`{"a":01}`, "\"a\x01\"", `[[[[]]]]`, `-0.0e-0`, `"\ud800"`, "\"\u2028\"", `{"a":1}x`, `  true `, `"\u00zz"`,
		"\xff\"", `[1e5, -0, 1E+2]`, `{"":{}}`, `nul`, `[`, strings.Repeat("[", 200)} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(`{"a": "b\u2029"}`), true)
	f.Fuzz(func(t *testing.T, raw []byte, valid bool) {
		col := &Column{Name: "j", Kind: KindJSON, ValidJSON: valid}
		if valid && !json.Valid(raw) {
			col.ValidJSON = false // the server's promise holds in production
		}
		env := NewEnv(nil)
		got, err := env.Append(nil, raw, col, KindAny, -1)
		in := raw
		if env.Warnings > 0 { // invalid UTF-8 replaced
			in = []byte(string([]rune(string(raw))))
		}
		var want bytes.Buffer
		accepted := json.Compact(&want, in) == nil && depth(in) <= MaxJSONDepth
		if accepted != (err == nil) {
			t.Fatalf("%q: error %v, but encoding/json accepts it: %v", raw, err, accepted)
		}
		if err != nil {
			return
		}
		w := bytes.ReplaceAll(want.Bytes(), []byte("\u2028"), []byte(`\u2028`))
		w = bytes.ReplaceAll(w, []byte("\u2029"), []byte(`\u2029`))
		if !bytes.Equal(got, w) {
			t.Fatalf("%q: got %q, want %q", raw, got, w)
		}
	})
}

// depth returns how deeply arrays and objects nest in valid JSON text.
func depth(raw []byte) int {
	d, most := 0, 0
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.Token()
		if err != nil {
			return most
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			d++
			most = max(most, d)
		case json.Delim(']'), json.Delim('}'):
			d--
		}
	}
}
