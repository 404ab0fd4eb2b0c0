package exporters

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// TestHostileRowGuards (issue 12, item 4; CONTRACT §3): a run with fewer
// documents than min_rows (default 1), or that loses more than max_shrink of
// the published version's rows, fails naming the feed and the rule and
// publishes nothing: manifest, latest.json and versions/ stay as they were,
// no upload is left. --force (Request.Force) overrides max_shrink only.
func TestHostileRowGuards(t *testing.T) {
	dsn, _ := scratchDB(t,
		"CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)",
		`INSERT INTO items WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 1000)
		 SELECT i, 'label ' || i FROM n`)
	const cfg = `version: 1
feeds:
  - name: items
    query: SELECT id, label FROM items WHERE id <= 1000 ORDER BY id
    fields: {id: id, label: label}
`
	tests := []struct {
		name   string
		limit  string // replaces the 1000 of the second run's query
		guards string // extra feed keys
		force  bool
		want   string // error message part; "" = published
	}{
		{"empty result, default min_rows", "0", "", false, `feed "items": 0 documents, fewer than min_rows 1: nothing published`},
		{"below min_rows", "4", "    min_rows: 5\n", false, `feed "items": 4 documents, fewer than min_rows 5`},
		{"min_rows holds under force", "0", "", true, "fewer than min_rows 1"},
		{"empty allowed", "0", "    min_rows: 0\n", false, ""},
		{"shrinks too much", "499", "    max_shrink: 0.5\n", false,
			`feed "items": 499 documents, 50.1% fewer than the published version's 1000, more than max_shrink 0.5 allows: nothing published, the previous version stays (sqlfeed run --force items publishes it)`},
		{"shrinks by exactly max_shrink", "500", "    max_shrink: 0.5\n", false, ""},
		{"forced", "10", "    max_shrink: 0.5\n", true, ""},
		{"no max_shrink", "10", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, dir := fileStore(t)
			source := openDB(t, dsn)
			text := cfg + tt.guards
			first := runFeeds(t, &Runner{Config: parseConfig(t, text), DB: source, Store: store}, t0)[0]
			if first.Status != StatusSuccess || first.Rows != 1000 {
				t.Fatal(first)
			}
			before := readDoc(t, store, latestKey("items"))
			manifest := readDoc(t, store, manifestKey("items"))
			second := parseConfig(t, strings.Replace(text, "id <= 1000", "id <= "+tt.limit, 1))
			res, err := (&Runner{Config: second, DB: source, Store: store}).Run(t.Context(), Request{ScheduledTime: t0.Add(time.Hour), Force: tt.force})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if res[0].Status != StatusSuccess || manifestOf(t, store, "items").Version != res[0].Version {
					t.Fatalf("not published: %+v", res[0])
				}
				return
			}
			if res[0].Status != StatusError || !strings.Contains(res[0].Message, tt.want) || res[0].Version != "" {
				t.Fatalf("status %s message %q, want error containing %q", res[0].Status, res[0].Message, tt.want)
			}
			if !bytes.Equal(readDoc(t, store, manifestKey("items")), manifest) {
				t.Fatal("manifest.json changed")
			}
			if !bytes.Equal(readDoc(t, store, latestKey("items")), before) {
				t.Fatal("latest.json changed")
			}
			if keys := listKeys(t, store, "items/versions/"); len(keys) != 1 || keys[0] != versionKey("items", first.Version) {
				t.Fatalf("versions after the refused run: %v", keys)
			}
			assertNoTemp(t, dir)
		})
	}
}

// TestHostileRowGuardsS3: on S3 a run refused by max_shrink has streamed its
// document into a multipart upload; the upload is aborted, no version object
// is left and manifest.json and latest.json are untouched.
func TestHostileRowGuardsS3(t *testing.T) {
	m := testsvc.StartMinIO(t)
	store := openStore(t, m.URL())
	feed := func(rows int) *Runner {
		r := e2eRunner(t, "sqlite://../testdata/chinook.db", store)
		r.Config = parseConfig(t, fmt.Sprintf(`version: 1
feeds:
  - name: big
    query: |
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
      SELECT i AS Id, printf('%%.100c', 'x') AS Name FROM n
    fields: {id: Id, name: Name}
    max_shrink: 0.5
`, rows))
		return r
	}
	first := mustRun(t, feed(120_000), Request{ScheduledTime: e2eTime})[0] // ≈ 15 MB
	latest, _, err := blob.ReadAll(t.Context(), store, "big/latest.json")
	if err != nil {
		t.Fatal(err)
	}
	manifest, _, err := blob.ReadAll(t.Context(), store, "big/manifest.json")
	if err != nil {
		t.Fatal(err)
	}

	r := feed(50_000) // ≈ 6 MB: more than one 5 MiB part
	inFlight := 0
	r.hook = atStep(stepEncoded, func() { inFlight = m.PendingMultipartUploads() })
	res, err := r.Run(t.Context(), Request{ScheduledTime: e2eTime.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != StatusError || !strings.Contains(res[0].Message, `feed "big": 50000 documents, 58.3% fewer than the published version's 120000, more than max_shrink 0.5`) {
		t.Fatalf("shrunk run: %+v", res[0])
	}
	if inFlight != 1 {
		t.Fatalf("%d multipart uploads in flight when the document was encoded, want 1", inFlight)
	}
	if n := m.PendingMultipartUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
	if v := listKeys(t, store, "big/versions/"); len(v) != 1 || v[0] != versionKey("big", first.Version) {
		t.Fatalf("versions after the refused run: %v", v)
	}
	for key, before := range map[string][]byte{"big/latest.json": latest, "big/manifest.json": manifest} {
		if after, _, err := blob.ReadAll(t.Context(), store, key); err != nil || !bytes.Equal(after, before) {
			t.Fatalf("%s changed: %v", key, err)
		}
	}
}
