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

// TestHostileGroupKeys covers both paths of the group mapper's check that no
// key comes back after its group ended: keys that compare like SQL's order
// (numbers, decimals, times) must rise or fall throughout and cost O(1)
// memory; text keys are remembered as hashes up to maxGroupHashes groups.
func TestHostileGroupKeys(t *testing.T) {
	defer func(n int) { maxGroupHashes = n }(maxGroupHashes)
	maxGroupHashes = 4
	tests := []struct {
		name    string
		keys    []any
		wantErr string // "" for none
	}{
		{"rising ints", []any{int64(1), int64(2), int64(10), int64(11), int64(12), int64(13)}, ""},
		{"falling ints with NULL first", []any{nil, int64(9), int64(3), int64(-1)}, ""},
		{"int comes back", []any{int64(1), int64(2), int64(1)}, "group key 1 (column k) follows 2"},
		{"int after NULL comes back", []any{int64(1), nil, int64(1)}, "group key 1 (column k) follows 1"},
		{"NULL comes back", []any{nil, int64(1), nil}, "group key NULL (column k) comes back"},
		{"decimals by value", []any{Decimal("-10.5"), Decimal("-2"), Decimal("0"), Decimal("0.25"), Decimal("0.3"), Decimal("10")}, ""},
		{"decimal out of order", []any{Decimal("9.5"), Decimal("10"), Decimal("9.75")}, "follows 10"},
		{"mixed types", []any{int64(1), "a"}, "a key of another type"},
		{"text in collation order", []any{"apple", "Banana", "cherry", "Date"}, ""},
		{"text comes back", []any{"b", "a", "b"}, `group key "b" (column k) comes back`},
		{"text in no byte order, too many", []any{"b", "a", "c", "e", "d"}, "more than 4 groups"},
		{"text in byte order past the cap", []any{"a", "b", "c", "d", "e", "f", "g"}, ""},
		{"text out of byte order past the cap", []any{"a", "b", "c", "d", "e", "f", "a"}, `group key "a" (column k) follows "f": after 4 groups in byte order`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := keyOrder{feed: "f", column: "k"}
			var err error
			for _, k := range tt.keys {
				if err = o.begin(k); err != nil {
					break
				}
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if _, isText := tt.keys[0].(string); !isText && o.hashes != nil {
				t.Fatalf("non-text keys kept %d hashes", o.hashes.n)
			}
			if err == nil && tt.keys[0] == "a" && o.hashes != nil {
				t.Fatalf("text keys in byte order kept %d hashes past the cap", o.hashes.n)
			}
		})
	}
}

// TestHostileGroupKeysMonotonicMemory: a million rising integer keys through
// the group mapper keep no memory per group.
func TestHostileGroupKeysMonotonicMemory(t *testing.T) {
	m, err := newGroup(Spec{Feed: "f", Fields: []FieldSpec{{Key: "id", Column: "id", Scale: -1}},
		Group: &GroupSpec{By: "id", Into: "items", Fields: []FieldSpec{{Key: "v", Column: "v", Scale: -1}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Bind([]Column{{Name: "id", Kind: KindInt}, {Name: "v", Kind: KindInt}}, NewEnv(nil)); err != nil {
		t.Fatal(err)
	}
	keys := make([]Value, 1_000_000) // boxed beforehand: boxing allocates
	for i := range keys {
		keys[i] = int64(i)
	}
	row, next := []Value{nil, int64(1)}, 0
	allocs := testing.AllocsPerRun(1, func() { // runs twice
		for range len(keys) / 2 {
			row[0] = keys[next]
			next++
			if err := m.Map(row, discard{}); err != nil {
				t.Fatal(err)
			}
		}
	})
	if g := m.(*groupMapper); g.order.hashes != nil || allocs > 1000 {
		t.Fatalf("%v allocations, hashes %v", allocs, g.order.hashes != nil)
	}
}

type discard struct{}

func (discard) WriteDoc([]byte) error { return nil }

func TestHashSet(t *testing.T) {
	var s hashSet
	h := func(i uint64) uint64 { return i * 0x9e3779b97f4a7c15 } // h(0) == 0
	for i := range uint64(100_000) {
		s.add(h(i))
		s.add(h(i))
	}
	for i := range uint64(200_000) {
		if s.has(h(i)) != (i < 100_000) {
			t.Fatalf("has(h(%d)) = %v", i, s.has(h(i)))
		}
	}
	if s.n != 100_000 || len(s.slots) != 1<<18 {
		t.Fatalf("%d hashes in %d slots", s.n, len(s.slots))
	}
}

// TestHostileBindDuplicateColumns: Bind refuses two columns whose names are
// equal ignoring case before any mapper sees them.
func TestHostileBindDuplicateColumns(t *testing.T) {
	m, err := newRaw(Spec{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ a, b, want string }{
		{"name", "name", `"name" twice`}, {"name", "NAME", `"name" and "NAME" twice`}, {"name", "title", ""},
	} {
		_, err := Bind(m, []Column{{Name: "id"}, {Name: tt.a}, {Name: tt.b}}, NewEnv(nil))
		var de *DuplicateColumnError
		if tt.want == "" && err != nil || tt.want != "" && (!errors.As(err, &de) || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s, %s: %v, want %q", tt.a, tt.b, err, tt.want)
		}
	}
}
