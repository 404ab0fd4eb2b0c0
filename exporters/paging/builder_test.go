package paging

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"encoding/json"
)

// build pages docs and returns the pages.
func build(t testing.TB, opt Options, docs []string) []*Page {
	t.Helper()
	var pages []*Page
	b, err := NewBuilder(opt, FieldKey("id"), func(p *Page) error { pages = append(pages, p); return nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if err := b.WriteDoc([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return pages
}

func docsOf(ids []int, pad int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmt.Sprintf(`{"id":%d,"name":"item %d%s"}`, id, id, strings.Repeat("x", pad))
	}
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// plain returns a page's uncompressed bytes.
func plain(t testing.TB, p *Page) []byte {
	if !strings.HasSuffix(p.Name, "-gzip") {
		return p.Body
	}
	zr, err := gzip.NewReader(bytes.NewReader(p.Body))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPagesConcatenate: in every format and compression, the pages' documents
// in order are the input, each page's counts, digest and first/last are right.
func TestPagesConcatenate(t *testing.T) {
	docs := docsOf(seq(1, 3000), 0)
	for _, format := range []string{"json", "ndjson"} {
		for _, compress := range []string{"none", "gzip"} {
			t.Run(format+"-"+compress, func(t *testing.T) {
				pages := build(t, Options{Rows: 100, MaxBytes: 4096, Format: format, Compress: compress}, docs)
				var got []string
				for _, p := range pages {
					body := plain(t, p)
					if int64(len(body)) != p.Bytes || p.Bytes > 4096 {
						t.Fatalf("page %s: %d bytes, says %d", p.Name, len(body), p.Bytes)
					}
					var page []string
					if format == "json" {
						var raw []json.RawMessage
						if err := json.Unmarshal(body, &raw); err != nil {
							t.Fatal(err)
						}
						for _, r := range raw {
							page = append(page, string(r))
						}
					} else {
						page = strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
					}
					if int64(len(page)) != p.Rows {
						t.Fatalf("page rows %d, says %d", len(page), p.Rows)
					}
					first, _ := TopLevel([]byte(page[0]), "id")
					last, _ := TopLevel([]byte(page[len(page)-1]), "id")
					if string(first) != string(p.First) || string(last) != string(p.Last) {
						t.Fatalf("first/last %s/%s, pages says %s/%s", first, last, p.First, p.Last)
					}
					got = append(got, page...)
				}
				if strings.Join(got, "\n") != strings.Join(docs, "\n") {
					t.Fatal("the pages' documents are not the input")
				}
			})
		}
	}
}

// names returns the page names.
func names(pages []*Page) map[string]bool {
	out := map[string]bool{}
	for _, p := range pages {
		out[p.Name] = true
	}
	return out
}

func newNames(before, after []*Page) int {
	old := names(before)
	n := 0
	for _, p := range after {
		if !old[p.Name] {
			n++
		}
	}
	return n
}

// TestPageStability: one changed document → one new page; one inserted or
// deleted → at most two; the same input → the same pages.
func TestPageStability(t *testing.T) {
	opt := Options{Rows: 50, MaxBytes: 1 << 20, Format: "json", Compress: "gzip"}
	ids := seq(1, 5000)
	base := build(t, opt, docsOf(ids, 0))
	if len(base) < 50 {
		t.Fatalf("only %d pages", len(base))
	}
	if n := newNames(base, build(t, opt, docsOf(ids, 0))); n != 0 {
		t.Fatalf("same input: %d new pages", n)
	}
	for _, at := range []int{0, 1234, 4999} {
		changed := docsOf(ids, 0)
		changed[at] = strings.Replace(changed[at], "item", "ITEM", 1)
		if n := newNames(base, build(t, opt, changed)); n != 1 {
			t.Fatalf("changed doc %d: %d new pages", at, n)
		}
		deleted := append(append([]int{}, ids[:at]...), ids[at+1:]...)
		if n := newNames(base, build(t, opt, docsOf(deleted, 0))); n < 1 || n > 2 {
			t.Fatalf("deleted doc %d: %d new pages", at, n)
		}
	}
	// Inserts: keys between existing ones (ids ×2, insert odd ones).
	even := make([]int, len(ids))
	for i, id := range ids {
		even[i] = id * 2
	}
	base = build(t, opt, docsOf(even, 0))
	for _, at := range []int{0, 777, 4999} {
		ins := append(append(append([]int{}, even[:at]...), even[at]-1), even[at:]...)
		if n := newNames(base, build(t, opt, docsOf(ins, 0))); n < 1 || n > 2 {
			t.Fatalf("inserted before doc %d: %d new pages", at, n)
		}
	}
}

// TestPageDistribution: no page over max_bytes, few tiny pages, a mean near rows.
func TestPageDistribution(t *testing.T) {
	const rows, n = 500, 200000
	docs := docsOf(seq(1, n), 0)
	pages := build(t, Options{Rows: rows, MaxBytes: 1 << 20, Format: "json", Compress: "none"}, docs)
	mean := float64(n) / float64(len(pages))
	tiny := 0
	for _, p := range pages {
		if p.Rows < rows/100 {
			tiny++
		}
	}
	// Geometric with p = 1/rows: P(rows < rows/100) ≈ 1%.
	if mean < rows*0.8 || mean > rows*1.25 || float64(tiny) > 0.03*float64(len(pages)) {
		t.Fatalf("%d pages, mean %.0f documents, %d below %d", len(pages), mean, tiny, rows/100)
	}
	// max_bytes caps pages; one oversized document is a page alone.
	big := docsOf(seq(1, 2000), 0)
	big[100] = fmt.Sprintf(`{"id":101,"name":"%s"}`, strings.Repeat("y", 5000))
	pages = build(t, Options{Rows: 1000, MaxBytes: 2048, Format: "ndjson", Compress: "none"}, big)
	alone := false
	for _, p := range pages {
		if p.Bytes > 2048 && p.Rows != 1 {
			t.Fatalf("page of %d rows, %d bytes over max_bytes", p.Rows, p.Bytes)
		}
		alone = alone || (p.Rows == 1 && string(p.First) == "101")
	}
	if !alone {
		t.Fatal("the oversized document is not a page alone")
	}
}

// TestDuplicateKey: a key equal to the previous one fails with a clear error.
func TestDuplicateKey(t *testing.T) {
	b, _ := NewBuilder(Options{Rows: 10, MaxBytes: 1 << 20, Format: "json"}, FieldKey("id"), func(*Page) error { return nil })
	b.WriteDoc([]byte(`{"id":"a"}`))
	err := b.WriteDoc([]byte(`{"id":"a"}`))
	var dup *DuplicateKeyError
	if !errors.As(err, &dup) || !strings.Contains(err.Error(), "unique") {
		t.Fatalf("err %v", err)
	}
	if err := b.WriteDoc([]byte(`{"name":"x"}`)); !errors.Is(err, ErrNoKey) {
		t.Fatalf("missing key: %v", err)
	}
}

// TestFromFirstBoundary: a builder started mid-stream at the first boundary
// and one stopped at the next boundary after a point produce exactly the
// whole stream's pages between them (key ranges of shards).
func TestFromFirstBoundary(t *testing.T) {
	opt := Options{Rows: 40, MaxBytes: 3000, Format: "json", Compress: "none"}
	docs := docsOf(seq(1, 4000), 0)
	whole := build(t, opt, docs)
	var head []*Page
	b, _ := NewBuilder(opt, FieldKey("id"), func(p *Page) error { head = append(head, p); return nil })
	for i, d := range docs {
		if i == 2000 {
			b.StopAtNextBoundary()
		}
		b.WriteDoc([]byte(d))
		if b.Done() {
			break
		}
	}
	b.Close()
	opt.FromFirstBoundary = true
	tail := build(t, opt, docs[2000:])
	got := append(head, tail...)
	if len(got) != len(whole) {
		t.Fatalf("%d+%d pages, want %d", len(head), len(tail), len(whole))
	}
	for i := range got {
		if got[i].Name != whole[i].Name {
			t.Fatalf("page %d differs", i)
		}
	}
}

func TestTopLevel(t *testing.T) {
	for _, c := range []struct{ doc, key, want string }{
		{`{"id":1,"b":2}`, "id", "1"},
		{`{"a":{"id":9,"x":[1,{"y":"}"}]},"id":"k\"}"}`, "id", `"k\"}"`},
		{` { "a" : [ ] , "id" : -1.5e3 } `, "id", "-1.5e3"},
		{`{"\u0069d":true}`, "id", "true"},
		{`{"id":null}`, "id", "null"},
		{`{"id":{"n":1}}`, "id", `{"n":1}`},
	} {
		got, err := TopLevel([]byte(c.doc), c.key)
		if err != nil || string(got) != c.want {
			t.Errorf("%s: %q, %v; want %q", c.doc, got, err, c.want)
		}
	}
	for _, doc := range []string{`{"a":1}`, `{}`, `[1]`, `{"a":1`, `{"a" 1}`, `{"a":"x`, ``} {
		if _, err := TopLevel([]byte(doc), "id"); err == nil {
			t.Errorf("%s: no error", doc)
		}
	}
}

// FuzzTopLevel: whatever a JSON object holds, TopLevel finds the value the
// decoder finds (compared re-encoded), and never panics on any input.
func FuzzTopLevel(f *testing.F) {
	for _, s := range []string{`{"id":1}`, `{"a":"\"","id":[1,"]"]}`, `{"id":{"id":2}}`, `{ "x" : null , "id" : "é" }`, `{"a":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		got, err := TopLevel(doc, "id")
		var m map[string]json.RawMessage
		if bytes.Count(doc, []byte(`"id"`)) > 1 || json.Unmarshal(doc, &m) != nil {
			return // the reference decoder keeps the last of duplicate keys
		}
		want, ok := m["id"]
		if !ok {
			if err == nil {
				t.Fatalf("%s: found %s, the decoder finds no id", doc, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: %v, the decoder finds %s", doc, err, want)
		}
		var a, b any
		if json.Unmarshal(got, &a) != nil || json.Unmarshal(want, &b) != nil {
			t.Fatalf("%s: got %s, want %s", doc, got, want)
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Fatalf("%s: got %s, want %s", doc, got, want)
		}
	})
}
