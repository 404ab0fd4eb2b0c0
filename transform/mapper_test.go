package transform

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// docs collects documents written by a mapper.
type docs []string

func (d *docs) WriteDoc(b []byte) error { *d = append(*d, string(b)); return nil }

func field(key, col string) FieldSpec { return FieldSpec{Key: key, Column: col, Scale: -1} }

var testCols = []Column{
	{Name: "AlbumId", Kind: KindInt},
	{Name: "Title", Kind: KindString},
	{Name: "TrackId", Kind: KindInt, Nullable: true},
	{Name: "TrackName", Kind: KindString, Nullable: true},
	{Name: "Price", Kind: KindDecimal},
}

func run(t *testing.T, m Mapper, rows [][]Value) ([]string, Schema) {
	t.Helper()
	schema, err := m.Bind(testCols, NewEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	var out docs
	for _, r := range rows {
		if err := m.Map(r, &out); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Flush(&out); err != nil {
		t.Fatal(err)
	}
	return out, schema
}

func TestFieldsMapper(t *testing.T) {
	omit := field("track", "TrackName")
	omit.OmitNull = true
	price := field("price", "Price")
	price.Type, price.Scale = KindString, 2
	m, err := Default.New("fields", Spec{Fields: []FieldSpec{
		field("id", "AlbumId"), field("album.title", "title"), omit, field("album.track_id", "TrackId"), price,
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, schema := run(t, m, [][]Value{
		{int64(1), "A", int64(10), "x", Decimal("0.99")},
		{int64(2), "B", nil, nil, 1.5},
	})
	want := []string{
		`{"id":1,"album":{"title":"A","track_id":10},"track":"x","price":"0.99"}`,
		`{"id":2,"album":{"title":"B","track_id":null},"price":"1.50"}`,
	}
	if strings.Join(out, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(out, "\n"), strings.Join(want, "\n"))
	}
	req := schema["required"].([]string)
	if strings.Join(req, ",") != "id,album,price" {
		t.Fatalf("required = %v", req)
	}
}

func TestGroupMapper(t *testing.T) {
	m, err := Default.New("group", Spec{
		Fields: []FieldSpec{field("id", "AlbumId"), field("title", "Title")},
		Group:  &GroupSpec{By: "AlbumId", Into: "tracks", Fields: []FieldSpec{field("id", "TrackId"), field("name", "TrackName")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, m, [][]Value{
		{int64(1), "A", int64(10), "x", nil},
		{int64(1), "A", int64(11), "y", nil},
		{int64(2), "B", nil, nil, nil}, // LEFT JOIN without children
		{int64(3), "C", int64(12), "z", nil},
	})
	want := []string{
		`{"id":1,"title":"A","tracks":[{"id":10,"name":"x"},{"id":11,"name":"y"}]}`,
		`{"id":2,"title":"B","tracks":[]}`,
		`{"id":3,"title":"C","tracks":[{"id":12,"name":"z"}]}`,
	}
	if strings.Join(out, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(out, "\n"), strings.Join(want, "\n"))
	}
}

func TestRawMapper(t *testing.T) {
	m, err := Default.New("raw", Spec{})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, m, [][]Value{{int64(1), "A", nil, "t", Decimal("2.00")}})
	if want := `{"AlbumId":1,"Title":"A","TrackId":null,"TrackName":"t","Price":2.00}`; out[0] != want {
		t.Fatalf("got %s, want %s", out[0], want)
	}
}

func TestMapperErrors(t *testing.T) {
	tests := []struct {
		name   string
		mapper string
		spec   Spec
		want   string // in New or Bind error
	}{
		{"unknown mapper", "nope", Spec{}, `mapper "nope" is not registered`},
		{"fields needs allowlist", "fields", Spec{}, "at least one field"},
		{"raw takes no fields", "raw", Spec{Fields: []FieldSpec{field("a", "AlbumId")}}, "takes no fields"},
		{"missing column", "fields", Spec{Fields: []FieldSpec{{Key: "a", Column: "Nope", Scale: -1, Pos: "f.yaml:9"}}}, `f.yaml:9: field "a" names column "Nope"`},
		{"duplicate key", "fields", Spec{Fields: []FieldSpec{field("a", "AlbumId"), field("a", "Title")}}, "given twice"},
		{"leaf and object", "fields", Spec{Fields: []FieldSpec{field("a", "AlbumId"), field("a.b", "Title")}}, "given twice"},
		{"group missing by", "group", Spec{Fields: []FieldSpec{field("a", "AlbumId")}, Group: &GroupSpec{By: "X", Into: "t", Fields: []FieldSpec{field("a", "AlbumId")}}}, `names column "X"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Default.New(tt.mapper, tt.spec)
			if err == nil {
				_, err = m.Bind(testCols, NewEnv(nil))
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	var ce *ColumnError
	m, _ := Default.New("fields", Spec{Fields: []FieldSpec{field("a", "Nope")}})
	if _, err := m.Bind(testCols, NewEnv(nil)); !errors.As(err, &ce) || ce.Column != "Nope" {
		t.Fatalf("want a *ColumnError, got %v", err)
	}
}

func TestIsolatedRegistry(t *testing.T) {
	var r Registry
	r.Register("mine", func(Spec) (Mapper, error) { return &fieldsMapper{}, nil })
	if _, err := r.New("fields", Spec{}); err == nil {
		t.Fatal("isolated registry should not know the built-ins")
	}
	if _, err := r.New("mine", Spec{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := Default.Lookup("mine"); ok {
		t.Fatal("isolated registration leaked into Default")
	}
}
