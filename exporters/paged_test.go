package exporters

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters/paging"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/blob/s3blob"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
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

// pagedFixture is a paged feed over a scratch table, with a short grace.
type pagedFixture struct {
	t     *testing.T
	store blob.Store
	dsn   string
	exec  func(stmt string)
	cfg   string
}

func newPagedFixture(t *testing.T, store blob.Store, keep int, grace string) *pagedFixture {
	stmts := []string{"CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT, n INTEGER)"}
	for i := 1; i <= 800; i++ {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO items VALUES (%d, 'item %d', %d)", i, i, i))
	}
	dsn, w := scratchDB(t, stmts...)
	return &pagedFixture{t: t, store: store, dsn: dsn, cfg: fmt.Sprintf(pagedFeeds, "json", "gzip", keep, grace),
		exec: func(stmt string) {
			t.Helper()
			if _, err := w.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}}
}

// runner returns a Runner on the fixture whose waits are short (the order of
// events, not their length, is what the tests need).
func (f *pagedFixture) runner(hook func(feed, step string) error) *Runner {
	return &Runner{Config: parseConfig(f.t, f.cfg), DB: openDB(f.t, f.dsn), Store: f.store, hook: hook,
		sleep: func(ctx context.Context, d time.Duration) error { time.Sleep(100 * time.Millisecond); return nil }}
}

func (f *pagedFixture) run(r *Runner) Result {
	f.t.Helper()
	return runFeeds(f.t, r, time.Time{}, "paged")[0]
}

// storedPages lists the feed's pages.
func (f *pagedFixture) storedPages() map[string]bool {
	l, err := f.store.List(context.Background(), "paged/pages/")
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, a := range l {
		out[a.Key] = true
	}
	return out
}

// namedPages is every page the manifest's kept versions name; each must exist.
func (f *pagedFixture) namedPages() map[string]bool {
	f.t.Helper()
	m := manifestOf(f.t, f.store, "paged")
	stored := f.storedPages()
	out := map[string]bool{}
	for _, v := range m.Versions {
		idx, err := readIndex(context.Background(), f.store, v.Key)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, p := range idx.Pages {
			if !stored["paged/"+p.URL] {
				f.t.Fatalf("version %s names page %s, which is not stored", v.Version, p.URL)
			}
			out["paged/"+p.URL] = true
		}
	}
	return out
}

const shortGrace = 4 * time.Second

// TestPageRetention: keep_versions 2 keeps every page the two kept indexes
// name and, past grace, nothing else.
func TestPageRetention(t *testing.T) {
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			f := newPagedFixture(t, newStore(t), 2, shortGrace.String())
			r := f.runner(nil)
			f.run(r)
			first := f.storedPages()
			time.Sleep(shortGrace + 200*time.Millisecond)
			for _, id := range []int{5, 400} { // same length: no max_bytes cut moves
				f.exec(fmt.Sprintf("UPDATE items SET label = 'itex %d' WHERE id = %d", id, id))
				if res := f.run(r); res.Status != StatusSuccess {
					t.Fatalf("%+v", res)
				}
			}
			named, stored := f.namedPages(), f.storedPages()
			if len(manifestOf(t, f.store, "paged").Versions) != 2 || fmt.Sprint(named) != fmt.Sprint(stored) {
				t.Fatalf("stored %d pages, the two kept versions name %d", len(stored), len(named))
			}
			if len(added(objectSet(first), objectSet(stored))) != 2 || len(added(objectSet(stored), objectSet(first))) != 1 {
				t.Fatalf("the first version's page of row 5 was not swept: %d pages then, %d now", len(first), len(stored))
			}
		})
	}
}

func objectSet(m map[string]bool) map[string]string {
	out := map[string]string{}
	for k := range m {
		out[k] = ""
	}
	return out
}

// TestPagedKilledRun: a run killed between its pages and its index publishes
// nothing, and its pages are swept once older than grace.
func TestPagedKilledRun(t *testing.T) {
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			f := newPagedFixture(t, newStore(t), 1, shortGrace.String())
			f.run(f.runner(nil))
			m0 := manifestOf(t, f.store, "paged")
			latest0 := readDoc(t, f.store, latestKey("paged"))
			before := f.storedPages()
			f.exec("UPDATE items SET label = 'itex 300' WHERE id = 300")
			kill := f.runner(func(feed, step string) error {
				if step == stepPages {
					return errors.New("killed")
				}
				return nil
			})
			if res := f.run(kill); res.Status != StatusError {
				t.Fatalf("killed run: %+v", res)
			}
			orphans := added(objectSet(before), objectSet(f.storedPages()))
			m := manifestOf(t, f.store, "paged")
			if len(orphans) != 1 || m.Version != m0.Version || len(m.Versions) != 1 ||
				!bytes.Equal(readDoc(t, f.store, latestKey("paged")), latest0) {
				t.Fatalf("the killed run published something (orphans %v, manifest %s)", orphans, m.Version)
			}
			l, _ := f.store.List(context.Background(), "paged/versions/")
			if len(l) != 1 {
				t.Fatalf("%d version objects", len(l))
			}
			time.Sleep(shortGrace + 200*time.Millisecond)
			f.exec("UPDATE items SET label = 'item 300' WHERE id = 300")
			f.exec("UPDATE items SET label = 'itex 700' WHERE id = 700")
			if res := f.run(f.runner(nil)); res.Status != StatusSuccess {
				t.Fatalf("%+v", res)
			}
			if stored := f.storedPages(); stored[orphans[0]] || fmt.Sprint(stored) != fmt.Sprint(f.namedPages()) {
				t.Fatalf("the killed run's page %s was not swept", orphans[0])
			}
		})
	}
}

// TestPagedOverlappingSweep: run A found pages stored and is about to name
// them when run B publishes other content and sweeps them: B's sweep either
// deletes before A refreshes (A's refresh finds the page gone) or lists
// before and deletes after A's refresh (A's confirmation, at least w later,
// finds it gone). Either way A publishes no index naming a missing page.
func TestPagedOverlappingSweep(t *testing.T) {
	for name, newStore := range stores(t) {
		for _, race := range []string{"sweep-before-refresh", "sweep-lists-before-deletes-after"} {
			t.Run(name+"-"+race, func(t *testing.T) {
				f := newPagedFixture(t, newStore(t), 1, shortGrace.String())
				f.run(f.runner(nil))
				time.Sleep(shortGrace + 200*time.Millisecond) // every page older than grace
				f.exec("UPDATE items SET label = 'A' WHERE id = 10")

				var bRes Result
				var wg sync.WaitGroup
				bListed, aRefreshed := make(chan struct{}), make(chan struct{})
				var once sync.Once
				b := f.runner(func(feed, step string) error {
					if step == stepSwept && race != "sweep-before-refresh" {
						once.Do(func() {
							close(bListed)
							select {
							case <-aRefreshed:
							case <-time.After(20 * time.Second):
							}
						})
					}
					return nil
				})
				a := f.runner(func(feed, step string) error {
					switch step {
					case stepPages: // A has read everything: B publishes other content
						f.exec("UPDATE items SET label = 'item 10' WHERE id = 10")
						f.exec("UPDATE items SET label = 'B' WHERE id = 790")
						if race == "sweep-before-refresh" {
							bRes = f.run(b)
							return nil
						}
						wg.Add(1)
						go func() { defer wg.Done(); bRes = runFeeds(t, b, time.Time{}, "paged")[0] }()
						<-bListed
					case stepRefresh:
						if race != "sweep-before-refresh" {
							close(aRefreshed)
						}
					}
					return nil
				})
				aRes := f.run(a)
				wg.Wait()
				if bRes.Status != StatusSuccess || aRes.Status != StatusError || !strings.Contains(aRes.Message, "paged/pages/") {
					t.Fatalf("A %+v\nB %+v", aRes, bRes)
				}
				m := manifestOf(t, f.store, "paged")
				if m.Version != bRes.Version {
					t.Fatalf("manifest %s, B published %s", m.Version, bRes.Version)
				}
				f.namedPages() // every named page exists
			})
		}
	}
}

// TestS3TemplatePagedPermissions: as a MinIO user holding exactly the export
// role's S3 statements, a paged feed publishes, lists its pages, refreshes and
// sweeps them (a killed run's page is removed).
func TestS3TemplatePagedPermissions(t *testing.T) {
	m := testsvc.StartMinIO(t)
	store, err := s3blob.Open(t.Context(), m.Bucket, m.Prefix, s3blob.Options{Client: templateUser(t, m)})
	if err != nil {
		t.Fatal(err)
	}
	f := newPagedFixture(t, store, 1, shortGrace.String())
	if res := f.run(f.runner(nil)); res.Status != StatusSuccess {
		t.Fatalf("%+v", res)
	}
	before := f.storedPages()
	f.exec("UPDATE items SET label = 'itex 300' WHERE id = 300")
	kill := f.runner(func(feed, step string) error {
		if step == stepPages {
			return errors.New("killed")
		}
		return nil
	})
	f.run(kill)
	orphans := added(objectSet(before), objectSet(f.storedPages()))
	time.Sleep(shortGrace + 200*time.Millisecond)
	f.exec("UPDATE items SET label = 'item 300' WHERE id = 300")
	f.exec("UPDATE items SET label = 'itex 700' WHERE id = 700")
	if res := f.run(f.runner(nil)); res.Status != StatusSuccess || len(orphans) != 1 {
		t.Fatalf("%+v (orphans %v)", res, orphans)
	}
	if stored := f.storedPages(); stored[orphans[0]] || fmt.Sprint(stored) != fmt.Sprint(f.namedPages()) {
		t.Fatal("the sweep did not remove the killed run's page")
	}
}

// TestPagedGroupAndValidate: a group feed pages by its group key (documents,
// never split, add up to the unpaged feed); pages.by must be the group key
// and a published top-level field (validate --db and the run say so).
func TestPagedGroupAndValidate(t *testing.T) {
	const feeds = `version: 1
feeds:
  - name: albums
    query: |
      SELECT a.AlbumId, a.Title, t.TrackId, t.Name FROM Album a LEFT JOIN Track t ON t.AlbumId = a.AlbumId
      ORDER BY a.AlbumId, t.TrackId
    mapper: group
    fields: {id: AlbumId, title: Title}
    group: {by: AlbumId, into: tracks, fields: {id: TrackId, name: Name}}
    compress: gzip
  - name: albums-paged
    query: |
      SELECT a.AlbumId, a.Title, t.TrackId, t.Name FROM Album a LEFT JOIN Track t ON t.AlbumId = a.AlbumId
      ORDER BY a.AlbumId, t.TrackId
    mapper: group
    fields: {id: AlbumId, title: Title}
    group: {by: AlbumId, into: tracks, fields: {id: TrackId, name: Name}}
    pages: {by: AlbumId, rows: 20, max_bytes: 8192}
  - name: raw-paged
    query: SELECT GenreId, Name FROM Genre ORDER BY GenreId
    mapper: raw
    pages: {by: GenreId, rows: 5}
`
	store, _ := fileStore(t)
	d := openDB(t, chinookDSN)
	cfg := parseConfig(t, feeds)
	r := &Runner{Config: cfg, DB: d, Store: store}
	for _, res := range runFeeds(t, r, t0) {
		if res.Status != StatusSuccess {
			t.Fatalf("%s: %s", res.Feed, res.Message)
		}
	}
	got, idx := pagedDoc(t, store, "albums-paged")
	if want := readDoc(t, store, latestKey("albums")); !bytes.Equal(got, want) || len(idx.Pages) < 10 {
		t.Fatalf("%d pages; group pages differ from the unpaged feed\n%s", len(idx.Pages), firstDiff(got, want))
	}
	if _, idx := pagedDoc(t, store, "raw-paged"); string(idx.Pages[0].First) != "1" {
		t.Fatalf("raw feed keyed by its column: %s", idx.Pages[0].First)
	}
	for _, f := range cfg.Feeds {
		if err := ValidateFeed(t.Context(), d, f, nil); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
	}
	for _, c := range []struct{ name, by, want string }{
		{"albums-paged", "TrackId", `must be the group key "AlbumId"`},
		{"albums-paged", "Nope", "names no column of the query"},
		{"albums-paged", "Title", `must be the group key`},
		{"raw-paged", "Missing", "names no column"},
	} {
		f := *cfg.Feed(c.name)
		pg := *f.Pages
		pg.By, f.Pages = c.by, &pg
		if err := ValidateFeed(t.Context(), d, &f, nil); err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "test.yaml:") {
			t.Errorf("%s by %s: %v, want %q", c.name, c.by, err, c.want)
		}
	}
	// A column that is queried but not published.
	cfg = parseConfig(t, `version: 1
feeds:
  - name: hidden
    query: SELECT GenreId, Name FROM Genre ORDER BY GenreId
    fields: {name: Name}
    pages: {by: GenreId}
`)
	if err := ValidateFeed(t.Context(), d, cfg.Feeds[0], nil); err == nil || !strings.Contains(err.Error(), "not published by the mapper") {
		t.Fatalf("unpublished key: %v", err)
	}
	r = &Runner{Config: cfg, DB: d, Store: store}
	if res := runFeeds(t, r, t0)[0]; res.Status != StatusError || !strings.Contains(res.Message, "not published") {
		t.Fatalf("run with an unpublished key: %+v", res)
	}
}
