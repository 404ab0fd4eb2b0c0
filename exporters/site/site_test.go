package site

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestInterval(t *testing.T) {
	tests := []struct {
		expr string
		want time.Duration
	}{
		{"rate(1 hour)", time.Hour},
		{"rate(5 minutes)", 5 * time.Minute},
		{"rate(1  day)", 24 * time.Hour},
		{"rate(2 days)", 48 * time.Hour},
		{"rate(0 hours)", 0},
		{"rate(1 week)", 0},
		{"cron(15 2 * * ? *)", 24 * time.Hour},         // daily at 02:15
		{"cron(0/15 * * * ? *)", 15 * time.Minute},     // every quarter hour
		{"cron(0 8-17 ? * MON-FRI *)", 63 * time.Hour}, // Friday 17:00 → Monday 08:00 (weekend gap)
		{"cron(0 12 1 * ? *)", 31 * 24 * time.Hour},    // monthly: the longest month
		{"cron(0 9,18 * * ? *)", 15 * time.Hour},       // 18:00 → 09:00
		{"cron(30 6 ? * 2 *)", 7 * 24 * time.Hour},     // Mondays (1 = SUN)
		{"cron(0 0 1 1 ? 2020)", 0},                    // never within the window
		{"cron(0 0 L * ? *)", 0},                       // L is not understood
		{"cron(0 0 * * ?)", 0},                         // five fields
		{"", 0},
		{"every hour", 0},
	}
	for _, tt := range tests {
		if got := Interval(tt.expr); got != tt.want {
			t.Errorf("Interval(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

func TestFields(t *testing.T) {
	var schema map[string]any
	err := json.Unmarshal([]byte(`{"type":"object","required":["id","album","tracks"],"properties":{
		"zeta":{"type":["string","null"]},
		"id":{"type":"integer"},
		"album":{"type":"object","required":["title"],"properties":{"title":{"type":["string","null"]}}},
		"tracks":{"type":"array","items":{"type":"object","required":["n"],"properties":{"n":{"type":"integer"},"at":{"type":["string","null"],"format":"date-time"}}}},
		"blob":{"type":"string","contentEncoding":"base64"},
		"tags":{"type":"array","items":{"type":["string","null"]}},
		"meta":{}
	}}`), &schema)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range Fields(schema) {
		got = append(got, fmt.Sprintf("%d %s %s %s null=%v opt=%v", f.Depth, f.Path, f.Type, f.Format, f.Nullable, f.Optional))
	}
	want := []string{
		"0 id integer  null=false opt=false",
		"0 album object  null=false opt=false",
		"1 album.title string  null=true opt=false",
		"0 tracks array of object  null=false opt=false",
		"1 tracks[].n integer  null=false opt=false",
		"1 tracks[].at string date-time null=true opt=true",
		"0 blob string base64 null=false opt=true",
		"0 meta any  null=true opt=true",
		"0 tags array of string  null=false opt=true",
		"0 zeta string  null=true opt=true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("fields:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCapture(t *testing.T) {
	t.Run("first documents", func(t *testing.T) {
		var c Capture
		for i := range 100 {
			c.Add(fmt.Appendf(nil, `{"id":%d}`, i))
		}
		p := c.Preview("abc")
		if len(p.Docs) != PreviewDocs || p.Docs[0] != `{"id":0}` || p.Docs[19] != `{"id":19}` || p.Truncated || p.SHA256 != "abc" {
			t.Fatalf("%+v", p)
		}
	})
	t.Run("byte budget", func(t *testing.T) {
		var c Capture
		doc := []byte(`{"v":"` + strings.Repeat("x", 1000) + `"}`)
		buf := bytes.Clone(doc)
		for range 10 {
			c.Add(buf)
			buf[6] = 'y' // the caller reuses its buffer: the capture must have copied
		}
		p := c.Preview("abc")
		if len(p.Docs) != PreviewBytes/len(doc) || p.Docs[0] != string(doc) || p.Truncated {
			t.Fatalf("%d docs, truncated %v", len(p.Docs), p.Truncated)
		}
	})
	t.Run("one huge document", func(t *testing.T) {
		var c Capture
		c.Add([]byte(`{"v":"` + strings.Repeat("é", PreviewBytes) + `"}`))
		c.Add([]byte(`{"v":1}`))
		p := c.Preview("abc")
		if len(p.Docs) != 1 || !p.Truncated || len(p.Docs[0]) > PreviewBytes || !strings.HasSuffix(p.Docs[0], "é") {
			t.Fatalf("%d docs, truncated %v, %d bytes", len(p.Docs), p.Truncated, len(p.Docs[0]))
		}
		page, err := FeedPageHTML(FeedPage{Feed: Feed{Name: "f"}, Preview: p})
		if err != nil || !bytes.Contains(page, []byte("(cut: the first document alone")) {
			t.Fatalf("page of a cut preview: %v", err)
		}
	})
}

func samplePage() FeedPage {
	at := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	var schema map[string]any
	json.Unmarshal([]byte(`{"type":"object","required":["id","name"],"properties":{"id":{"type":"integer"},"name":{"type":"string"}}}`), &schema)
	return FeedPage{
		Feed: Feed{Name: "items", Description: `Items <b>& "friends"`, Schedule: "rate(1 hour)", Format: "json",
			Version: "20261122T140000Z-abc", GeneratedAt: at, Rows: 1234567, Bytes: 12_345_678, SHA256: strings.Repeat("ab", 32)},
		Schema:   schema,
		Preview:  &Preview{SHA256: strings.Repeat("ab", 32), Docs: []string{`{"id":1,"name":"</script><b>"}`, `{"id":2,"name":"b\u2028"}`}},
		Versions: []Version{{Version: "20261122T140000Z-abc", GeneratedAt: at, Rows: 1234567, Bytes: 12_345_678, SHA256: strings.Repeat("ab", 32)}},
	}
}

// TestFeedPageStable: the same input gives the same bytes, and the preview
// embedded in a page renders that page again exactly.
func TestFeedPageStable(t *testing.T) {
	p := samplePage()
	a, err := FeedPageHTML(p)
	if err != nil {
		t.Fatal(err)
	}
	p.Preview = ParsePreview(a)
	if p.Preview == nil {
		t.Fatal("no preview embedded")
	}
	b, err := FeedPageHTML(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("page rendered from its embedded preview differs")
	}
	for _, want := range []string{
		`<p class="desc">Items &lt;b&gt;&amp; &#34;friends&#34;</p>`,
		`data-time="2026-11-22T14:00:00Z" data-interval="3600"`,
		`<td>1,234,567</td>`[4:13], "12.3 MB",
		`<td>&lt;/script&gt;&lt;b&gt;</td>`,
		`<span data-href="latest.json">items/latest.json</span>`,
	} {
		if !bytes.Contains(a, []byte(want)) {
			t.Errorf("page lacks %s", want)
		}
	}
	if n := bytes.Count(a, []byte("</script>")); n != 2 {
		t.Errorf("%d </script> in the page, want 2 (data block and script)", n)
	}
	p.PublicURL = "https://feeds.example.com/v1/"
	c, _ := FeedPageHTML(p)
	if !bytes.Contains(c, []byte(`curl -s --compressed 'https://feeds.example.com/v1/items/latest.json'`)) || bytes.Contains(c, []byte("<span data-href")) {
		t.Error("public_url: snippets not absolute")
	}
}

func TestPagedFeed(t *testing.T) {
	p := samplePage()
	p.Feed.Paged, p.Feed.PageCount = true, 60
	for i := range 60 {
		p.Pages = append(p.Pages, Page{URL: fmt.Sprintf("pages/p%02d.json", i), Rows: int64(100 + i), Bytes: int64(1000 * (i + 1)),
			SHA256: fmt.Sprintf("%064d", i), First: fmt.Sprint(i * 100), Last: fmt.Sprint(i*100 + 99)})
	}
	b, err := FeedPageHTML(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"60 pages;", "(the first 50; 10 more in the page index)", `href="pages/p49.json"`,
		"<td class=\"num\">1.0 kB</td><td class=\"num\">31.0 kB</td><td class=\"num\">60.0 kB</td>", "<code>4900</code>", ".pages[] | {url, rows, first, last}"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("paged page lacks %s", want)
		}
	}
	if bytes.Contains(b, []byte("pages/p50.json")) {
		t.Error("more key ranges than the limit")
	}
}

func TestCatalog(t *testing.T) {
	at := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	b, err := CatalogHTML(Catalog{Feeds: []Feed{
		{Name: "a", Description: "<i>x</i>", Schedule: "cron(15 2 * * ? *)", Format: "ndjson", GeneratedAt: at, Rows: 3, Bytes: 999},
		{Name: "b", Paged: true, PageCount: 7, GeneratedAt: at},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<a href="a/index.html">a</a>`, `&lt;i&gt;x&lt;/i&gt;`, `data-interval="86400"`, "999 B",
		"one NDJSON document", "paged: 7 pages", `<a href="b/latest.json">latest.json</a>`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("catalog lacks %s", want)
		}
	}
	empty, _ := CatalogHTML(Catalog{})
	if !bytes.Contains(empty, []byte("No feed is published yet.")) {
		t.Error("empty catalog")
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 999_949: "999.9 kB", 999_950: "1.0 MB", 12_345_678_901: "12.3 GB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %s, want %s", n, got, want)
		}
	}
	if got := groupDigits(-1234567); got != "-1,234,567" {
		t.Errorf("groupDigits: %s", got)
	}
}

// FuzzPreviewRoundTrip: whatever the documents and description hold, the
// preview read back from the page is the one rendered into it.
func FuzzPreviewRoundTrip(f *testing.F) {
	f.Add(`{"a":"</script><!--<script>"}`, "</pre>\u2028<")
	f.Add("\xff\xfe", `<script type="application/json" id="sqlfeed-preview">`)
	f.Fuzz(func(t *testing.T, doc, description string) {
		p := samplePage()
		p.Feed.Description = description
		p.Preview = &Preview{SHA256: "x", Docs: []string{doc, "1"}}
		page, err := FeedPageHTML(p)
		if err != nil {
			t.Fatal(err)
		}
		got := ParsePreview(page)
		want, _ := json.Marshal(p.Preview) // invalid UTF-8 becomes U+FFFD both ways
		var norm Preview
		json.Unmarshal(want, &norm)
		if got == nil || strings.Join(got.Docs, "\x00") != strings.Join(norm.Docs, "\x00") {
			t.Fatalf("preview %+v, want %+v", got, norm)
		}
	})
}
