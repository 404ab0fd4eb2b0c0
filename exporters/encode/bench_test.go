package encode_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters/encode"
	"github.com/sqlfeed/sqlfeed/transform"
)

// benchCols and benchRow are the realistic row of the benchmark table
// bench_items (see bench/): mixed types, non-ASCII text, a small JSON column.
var benchCols = []transform.Column{
	{Name: "id", Kind: transform.KindInt},
	{Name: "name", Kind: transform.KindString},
	{Name: "price", Kind: transform.KindDecimal},
	{Name: "qty", Kind: transform.KindInt},
	{Name: "score", Kind: transform.KindFloat},
	{Name: "active", Kind: transform.KindBool},
	{Name: "created", Kind: transform.KindDateTime},
	{Name: "note", Kind: transform.KindString, Nullable: true},
	{Name: "meta", Kind: transform.KindJSON, Nullable: true},
}

func benchRow() []transform.Value {
	return []transform.Value{
		int64(123456), []byte("Ærøskøbing widget — größe XL"), []byte("1234.56"), int64(42), 0.8125, true,
		time.Date(2024, 5, 17, 13, 45, 12, 123456000, time.UTC),
		[]byte(strings.Repeat("lorem ipsum dolor sit amet ", 6)), []byte(`{"tags":["a","b"],"rank":3}`),
	}
}

func benchSpec() transform.Spec {
	f := func(k, c string) transform.FieldSpec { return transform.FieldSpec{Key: k, Column: c, Scale: -1} }
	return transform.Spec{Fields: []transform.FieldSpec{
		f("id", "id"), f("name", "name"), f("price", "price"), f("stock.qty", "qty"), f("score", "score"),
		f("active", "active"), f("created", "created"), f("note", "note"), f("meta", "meta"),
	}}
}

func benchMapper(b *testing.B, name string, spec transform.Spec) {
	m, err := transform.Default.New(name, spec)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Bind(benchCols, transform.NewEnv(nil)); err != nil {
		b.Fatal(err)
	}
	w, err := encode.New(io.Discard, encode.JSON, encode.None)
	if err != nil {
		b.Fatal(err)
	}
	row := benchRow()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := m.Map(row, w); err != nil {
			b.Fatal(err)
		}
	}
	m.Flush(w)
	w.Close()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkFields is the encoder plus the fields mapper on the bench row.
func BenchmarkFields(b *testing.B) { benchMapper(b, "fields", benchSpec()) }

// BenchmarkRaw is the encoder plus the raw mapper.
func BenchmarkRaw(b *testing.B) { benchMapper(b, "raw", transform.Spec{}) }

// BenchmarkGroup is the encoder plus the group mapper, ten items a group.
func BenchmarkGroup(b *testing.B) {
	spec := benchSpec()
	m, err := transform.Default.New("group", transform.Spec{Fields: spec.Fields[:2],
		Group: &transform.GroupSpec{By: "qty", Into: "items", Fields: spec.Fields[2:]}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Bind(benchCols, transform.NewEnv(nil)); err != nil {
		b.Fatal(err)
	}
	w, _ := encode.New(io.Discard, encode.JSON, encode.None)
	row := benchRow()
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		i++
		row[3] = i / 10
		if err := m.Map(row, w); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
}

// BenchmarkGzip is the fields mapper into a gzip-compressed stream.
func BenchmarkGzip(b *testing.B) {
	m, _ := transform.Default.New("fields", benchSpec())
	m.Bind(benchCols, transform.NewEnv(nil))
	w, _ := encode.New(io.Discard, encode.JSON, encode.Gzip)
	row := benchRow()
	b.ReportAllocs()
	for b.Loop() {
		m.Map(row, w)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
}
