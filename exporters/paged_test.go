package exporters

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters/paging"
	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// pagedDoc reads a paged feed as a consumer does (latest.json, then every
// page), checks each page against the index and its metadata, and returns
// the unpaged document the pages add up to (encode's layout) with the index.
func pagedDoc(t testing.TB, s blob.Store, feed string) ([]byte, *paging.Index) {
	t.Helper()
	ctx := context.Background()
	la, err := s.Head(ctx, latestKey(feed))
	if err != nil {
		t.Fatal(err)
	}
	if la.ContentType != "application/json" || la.ContentEncoding != "" {
		t.Fatalf("latest.json (page index) metadata %+v", la.Meta)
	}
	var idx paging.Index
	if err := json.Unmarshal(readDoc(t, s, latestKey(feed)), &idx); err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	var rows, size int64
	for _, p := range idx.Pages {
		key := feed + "/" + p.URL
		a, err := s.Head(ctx, key)
		if err != nil {
			t.Fatalf("page %s: %v", p.URL, err)
		}
		body := readDoc(t, s, key)
		sum := sha256.Sum256(body)
		wantEnc := map[string]string{"gzip": "gzip", "identity": ""}[idx.ContentEncoding]
		if hex.EncodeToString(sum[:]) != p.SHA256 || int64(len(body)) != p.Bytes || a.User["sha256"] != p.SHA256 ||
			a.User["rows"] != itoa(p.Rows) || a.CacheControl != cacheImmutable || a.ContentType != idx.ContentType ||
			a.ContentEncoding != wantEnc || !strings.HasPrefix(p.URL, "pages/"+p.SHA256) {
			t.Fatalf("page %s does not match its index entry %+v: %+v", p.URL, p, a)
		}
		n := eachDoc(t, bytes.NewReader(body), formatOf(idx.ContentType), func(raw json.RawMessage) { docs = append(docs, raw) })
		if int64(n) != p.Rows {
			t.Fatalf("page %s: %d documents, index says %d", p.URL, n, p.Rows)
		}
		rows += p.Rows
		size += p.Bytes
	}
	if rows != idx.Rows || size != idx.Bytes || paging.Digest(idx.Pages) != idx.SHA256 {
		t.Fatalf("index totals or digest wrong: %+v", idx)
	}
	var out bytes.Buffer
	if formatOf(idx.ContentType) == "ndjson" {
		for _, d := range docs {
			out.Write(d)
			out.WriteByte('\n')
		}
		return out.Bytes(), &idx
	}
	out.WriteString("[")
	for i, d := range docs {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteByte('\n')
		out.Write(d)
	}
	if len(docs) > 0 {
		out.WriteByte('\n')
	}
	out.WriteString("]\n")
	return out.Bytes(), &idx
}

func formatOf(contentType string) string {
	if contentType == "application/x-ndjson" {
		return "ndjson"
	}
	return "json"
}

// objectState is every stored object's ETag and mtime.
func objectState(t testing.TB, s blob.Store, prefix string) map[string]string {
	t.Helper()
	l, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range l {
		out[a.Key] = a.ETag + " " + a.ModTime.String()
	}
	return out
}

// added returns the keys in after that before lacks.
func added(before, after map[string]string) []string {
	var out []string
	for k := range after {
		if _, ok := before[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

const pagedFeeds = `version: 1
feeds:
  - name: plain
    query: SELECT id, label, n FROM items ORDER BY id
    fields: {id: id, label: label, n: n}
    format: %[1]s
    compress: %[2]s
  - name: paged
    query: SELECT id, label, n FROM items ORDER BY id
    fields: {id: id, label: label, n: n}
    format: %[1]s
    compress: %[2]s
    keep_versions: %[3]d
    pages: {by: id, rows: 40, max_bytes: 4096, grace: %[4]s}
`


// TestPagedFeed: on the folder and on MinIO, in both formats and with gzip,
// the pages' documents are the unpaged feed's byte for byte; one changed row
// writes exactly one new page, one inserted or deleted row at most two; an
// unchanged rerun writes nothing at all.
func TestPagedFeed(t *testing.T) {
	for name, newStore := range stores(t) {
		for _, enc := range [][2]string{{"json", "gzip"}, {"ndjson", "none"}} {
			t.Run(name+"-"+enc[0]+"-"+enc[1], func(t *testing.T) {
				stmts := []string{"CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT, n INTEGER)"}
				for i := 1; i <= 2000; i++ {
					stmts = append(stmts, fmt.Sprintf("INSERT INTO items VALUES (%d, 'item %d', %d)", i*2, i, i*i))
				}
				dsn, w := scratchDB(t, stmts...)
				store := newStore(t)
				now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
				r := &Runner{Config: parseConfig(t, fmt.Sprintf(pagedFeeds, enc[0], enc[1], 30, "24h")), DB: openDB(t, dsn), Store: store,
					Now: func() time.Time { return now }}
				run := func(feeds ...string) {
					t.Helper()
					now = now.Add(time.Minute)
					for _, res := range runFeeds(t, r, time.Time{}, feeds...) {
						if res.Status == StatusError {
							t.Fatalf("%s: %s", res.Feed, res.Message)
						}
					}
				}
				compare := func() *paging.Index {
					t.Helper()
					run()
					got, idx := pagedDoc(t, store, "paged")
					if want := readDoc(t, store, latestKey("plain")); !bytes.Equal(got, want) {
						t.Fatalf("the pages' documents differ from the unpaged feed's\n%s", firstDiff(got, want))
					}
					assertConsistent(t, store, "paged")
					return idx
				}
				idx := compare()
				if len(idx.Pages) < 20 {
					t.Fatalf("only %d pages", len(idx.Pages))
				}
				m := manifestOf(t, store, "paged")
				if !m.Paged || m.Pages != len(idx.Pages) || m.SHA256 != idx.SHA256 {
					t.Fatalf("manifest %+v", m)
				}
				var cat Catalog
				json.Unmarshal(readDoc(t, store, "index.json"), &cat)
				if c := cat.Feeds[1]; !c.Paged || c.Pages != len(idx.Pages) || cat.Feeds[0].Paged {
					t.Fatalf("index.json: %+v", cat.Feeds)
				}

				step := func(what, stmt string, most int) {
					t.Helper()
					before := objectState(t, store, "paged/pages/")
					if _, err := w.Exec(stmt); err != nil {
						t.Fatal(err)
					}
					compare()
					if n := len(added(before, objectState(t, store, "paged/pages/"))); n < 1 || n > most {
						t.Fatalf("%s: %d new pages, want 1 to %d", what, n, most)
					}
				}
				step("one changed row", "UPDATE items SET label = 'changed' WHERE id = 2002", 1)
				step("one inserted row", "INSERT INTO items VALUES (1001, 'new', 0)", 2)
				step("one deleted row", "DELETE FROM items WHERE id = 3000", 2)

				before := objectState(t, store, "")
				run("paged")
				if after := objectState(t, store, ""); fmt.Sprint(after) != fmt.Sprint(before) {
					for k, v := range after {
						if before[k] != v && !strings.HasSuffix(k, "manifest.json") {
							t.Fatalf("unchanged rerun wrote %s", k)
						}
					}
				}
			})
		}
	}
}
