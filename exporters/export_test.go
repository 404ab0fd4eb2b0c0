package exporters

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sqlfeed/sqlfeed/exporters/paging"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
	"github.com/sqlfeed/sqlfeed/transform"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

const chinookDSN = "sqlite://../testdata/chinook.db"

func sampleConfig(t testing.TB) *config.File {
	t.Helper()
	cfg, err := config.Load("../sqlfeed.yaml", transform.Default)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// SampleFeedsGolden exports the sample feeds from source into a fresh file
// store and checks them against testdata/golden: the shared check of every engine.
func checkSampleFeeds(t *testing.T, dsn string) {
	cfg := sampleConfig(t)
	store, _ := fileStore(t)
	state, _ := fileStore(t) // tracks-paged is sharded
	r := &Runner{Config: cfg, DB: openDB(t, dsn), Store: store, State: state}
	for _, res := range runFeeds(t, r, t0) {
		if res.Status != StatusSuccess {
			t.Fatalf("%s: %s %s", res.Feed, res.Status, res.Message)
		}
	}
	for _, f := range cfg.Feeds {
		doc := readDoc(t, store, latestKey(f.Name))
		if f.Pages != nil { // the pages' documents, and the pages themselves
			var idx *paging.Index
			doc, idx = pagedDoc(t, store, f.Name)
			pages, _ := json.MarshalIndent(idx.Pages, "", "  ")
			checkGolden(t, f.Name+".pages.json", append(pages, '\n'))
		}
		checkGolden(t, f.Name+"."+f.Format, doc)
	}
}

// checkGolden compares doc with testdata/golden/name (-update rewrites it).
func checkGolden(t *testing.T, name string, doc []byte) {
	t.Helper()
	golden := filepath.Join("..", "testdata", "golden", name)
	if *update {
		if err := os.WriteFile(golden, doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./exporters -update to create it)", err)
	}
	if !bytes.Equal(doc, want) {
		t.Errorf("%s differs from %s (run go test ./exporters -run Golden -update after checking the diff)\n%s", name, golden, firstDiff(doc, want))
	}
}

func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-80)
	return "got:  …" + string(a[lo:min(len(a), i+80)]) + "\nwant: …" + string(b[lo:min(len(b), i+80)])
}

func TestGoldenSQLite(t *testing.T) { checkSampleFeeds(t, chinookDSN) }

// TestPublishedLayout checks CONTRACT §5 on the sample feeds: every document
// parses, validates against schema.json, has exactly the allowlisted keys, and
// the manifest, metadata and catalog describe it.
func TestPublishedLayout(t *testing.T) {
	cfg := sampleConfig(t)
	store, dir := fileStore(t)
	r := &Runner{Config: cfg, DB: openDB(t, chinookDSN), Store: store}
	results := runFeeds(t, r, t0)
	ctx := context.Background()
	for i, f := range cfg.Feeds {
		t.Run(f.Name, func(t *testing.T) {
			res := results[i]
			m := manifestOf(t, store, f.Name)
			doc := readDoc(t, store, latestKey(f.Name))
			sum := sha256.Sum256(doc)
			paged := f.Pages != nil
			if paged { // pagedDoc checks the index against its pages; the rest of this test, their documents
				var idx *paging.Index
				doc, idx = pagedDoc(t, store, f.Name)
				if m.SHA256 != idx.SHA256 || m.Bytes != idx.Bytes || m.SHA256 != res.SHA256 || !m.Paged || m.Pages != len(idx.Pages) {
					t.Fatalf("manifest does not describe the page index: %+v", m)
				}
			} else if m.SHA256 != hex.EncodeToString(sum[:]) || m.Bytes != int64(len(doc)) || m.SHA256 != res.SHA256 {
				t.Fatalf("manifest does not describe the document: %+v", m)
			}
			if !regexp.MustCompile(`^20261122T140000Z-[0-9a-f]{8}$`).MatchString(m.Version) || m.CheckedAt.IsZero() ||
				m.SchemaSHA256 == "" {
				t.Fatalf("version %s", m.Version)
			}
			if len(m.Versions) != 1 || m.Versions[0].Key != versionKey(f.Name, m.Version) {
				t.Fatalf("versions %+v", m.Versions)
			}
			if v := readDoc(t, store, m.Versions[0].Key); !bytes.Equal(v, readDoc(t, store, latestKey(f.Name))) {
				t.Fatal("latest.json differs from its version")
			}
			latest, _ := store.Head(ctx, latestKey(f.Name))
			version, _ := store.Head(ctx, m.Versions[0].Key)
			wantEnc := map[string]string{"gzip": "gzip", "none": ""}[f.Compress]
			wantType := map[string]string{"json": "application/json", "ndjson": "application/x-ndjson"}[f.Format]
			if paged { // the page index is plain JSON
				wantEnc, wantType = "", "application/json"
			}
			for _, a := range []blob.Attrs{latest, version} {
				if a.ContentEncoding != wantEnc || a.ContentType != wantType || a.User["version"] != m.Version {
					t.Fatalf("metadata of %s: %+v", a.Key, a.Meta)
				}
			}
			if latest.User["sha256"] != m.SHA256 || latest.User["rows"] != itoa(m.Rows) {
				t.Fatalf("metadata of latest.json: %+v", latest.Meta)
			}
			if latest.CacheControl != "public, max-age=60" || version.CacheControl != "public, max-age=31536000, immutable" {
				t.Fatalf("cache control: latest %q version %q", latest.CacheControl, version.CacheControl)
			}

			schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(readDoc(t, store, schemaKey(f.Name))))
			if err != nil {
				t.Fatal(err)
			}
			c := jsonschema.NewCompiler()
			c.AssertFormat()
			if err := c.AddResource("mem://schema.json", schemaDoc); err != nil {
				t.Fatal(err)
			}
			schema, err := c.Compile("mem://schema.json")
			if err != nil {
				t.Fatal(err)
			}
			allowed := allowedKeys(f)
			n := eachDoc(t, bytes.NewReader(doc), f.Format, func(raw json.RawMessage) {
				v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
				if err != nil {
					t.Fatal(err)
				}
				if err := schema.Validate(v); err != nil {
					t.Fatalf("document %s does not validate: %v", raw, err)
				}
				var obj map[string]any
				json.Unmarshal(raw, &obj)
				for k := range obj {
					if !allowed[k] {
						t.Fatalf("key %q is not allowlisted: %s", k, raw)
					}
				}
			})
			if int64(n) != m.Rows || n == 0 {
				t.Fatalf("%d documents, manifest says %d", n, m.Rows)
			}
		})
	}
	var cat Catalog
	if err := json.Unmarshal(readDoc(t, store, "index.json"), &cat); err != nil {
		t.Fatal(err)
	}
	if len(cat.Feeds) != len(cfg.Feeds) || cat.Feeds[0].URLs.Latest != "tracks/latest.json" || cat.Feeds[0].Rows != 3503 {
		t.Fatalf("catalog: %+v", cat)
	}
	if page := string(readDoc(t, store, "index.html")); !strings.Contains(page, `<a href="tracks/index.html">tracks</a>`) {
		t.Fatalf("index.html lacks the tracks link:\n%s", page)
	}
	assertNoTemp(t, dir)
}

// allowedKeys is the set of top-level keys a feed's documents may have.
func allowedKeys(f *config.Feed) map[string]bool {
	keys := map[string]bool{}
	for _, fs := range f.Fields {
		keys[strings.SplitN(fs.Key, ".", 2)[0]] = true
	}
	if f.Group != nil {
		keys[f.Group.Into] = true
	}
	if f.Mapper == "artist-card" {
		for _, k := range []string{"id", "name", "slug", "url", "albums"} {
			keys[k] = true
		}
	}
	return keys
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestRerunUnchanged: the same content publishes nothing new and leaves
// latest.json (bytes, mtime, ETag) alone.
func TestRerunUnchanged(t *testing.T) {
	cfg := sampleConfig(t)
	store, dir := fileStore(t)
	r := &Runner{Config: cfg, DB: openDB(t, chinookDSN), Store: store}
	runFeeds(t, r, t0)
	before := map[string]os.FileInfo{}
	etags := map[string]string{}
	for _, f := range cfg.Feeds {
		fi, err := os.Stat(filepath.Join(dir, f.Name, "latest.json"))
		if err != nil {
			t.Fatal(err)
		}
		before[f.Name] = fi
		a, _ := store.Head(context.Background(), latestKey(f.Name))
		etags[f.Name] = a.ETag
	}
	index, _ := os.Stat(filepath.Join(dir, "index.json"))
	for _, res := range runFeeds(t, r, t0.Add(time.Hour)) {
		if res.Status != StatusUnchanged {
			t.Fatalf("%s: %s, want unchanged", res.Feed, res.Status)
		}
	}
	for _, f := range cfg.Feeds {
		fi, _ := os.Stat(filepath.Join(dir, f.Name, "latest.json"))
		if !fi.ModTime().Equal(before[f.Name].ModTime()) || fi.Size() != before[f.Name].Size() {
			t.Fatalf("%s/latest.json was rewritten", f.Name)
		}
		if a, _ := store.Head(context.Background(), latestKey(f.Name)); a.ETag != etags[f.Name] {
			t.Fatalf("%s/latest.json ETag changed", f.Name)
		}
		if keys := listKeys(t, store, f.Name+"/versions/"); len(keys) != 1 {
			t.Fatalf("%s versions: %v", f.Name, keys)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "index.json")); !fi.ModTime().Equal(index.ModTime()) {
		t.Fatal("index.json was rewritten")
	}
}

const counterFeed = `version: 1
feeds:
  - name: items
    query: SELECT id, label FROM items ORDER BY id
    fields: {id: id, label: label}
    keep_versions: 2
`

// TestNewVersionsAndRetention: changed data publishes a new version, the
// manifest lists the newest keep_versions, and older versions are deleted.
func TestNewVersionsAndRetention(t *testing.T) {
	dsn, w := scratchDB(t, "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)")
	store, dir := fileStore(t)
	r := &Runner{Config: parseConfig(t, counterFeed), DB: openDB(t, dsn), Store: store}
	var published []string
	// A version left by a run that died before its manifest write (older: swept)
	// and one of a run still publishing (newer: left alone).
	stale, inFlight := versionKey("items", "20200101T000000Z-abcdefabcdef"), versionKey("items", "20991231T000000Z-abcdefabcdef")
	for _, k := range []string{stale, inFlight} {
		if _, err := store.Put(context.Background(), k, strings.NewReader("[]"), blob.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		if _, err := w.Exec("INSERT INTO items (label) VALUES (?)", strings.Repeat("x", i+1)); err != nil {
			t.Fatal(err)
		}
		res := runFeeds(t, r, t0.Add(time.Duration(i)*time.Hour))[0]
		if res.Status != StatusSuccess || res.Rows != int64(i+1) {
			t.Fatalf("run %d: %+v", i, res)
		}
		published = append(published, res.Version)
	}
	m := manifestOf(t, store, "items")
	if m.Version != published[3] || len(m.Versions) != 2 || m.Versions[1].Version != published[2] {
		t.Fatalf("manifest versions: %+v", m.Versions)
	}
	want := []string{versionKey("items", published[2]), versionKey("items", published[3]), inFlight}
	if got := listKeys(t, store, "items/versions/"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("versions kept %v, want %v", got, want)
	}
	var docs []map[string]any
	json.Unmarshal(readDoc(t, store, latestKey("items")), &docs)
	if len(docs) != 4 || docs[3]["label"] != "xxxx" {
		t.Fatalf("latest: %v", docs)
	}
	assertNoTemp(t, dir)
}

// TestHeavyStreamingMillionRows proves memory does not grow with rows: a generated
// 1,000,000-row table is exported while the Go heap is sampled.
func TestHeavyStreamingMillionRows(t *testing.T) {
	testsvc.Heavy(t)
	const rows = 1_000_000
	dsn, _ := scratchDB(t,
		"CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT, price NUMERIC(10,2), created DATETIME)",
		`INSERT INTO big WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 1000000)
		 SELECT i, 'item ' || i || ' ünïcode', (i % 1000) / 100.0, datetime(1700000000 + i, 'unixepoch') FROM n`)
	exportBig(t, dsn, rows, `{"id":1000000,"item":{"name":"item 1000000 ünïcode"},"price":0.00,"created":"2023-11-26T12:00:00Z"}`)
}

// exportBig exports the generated table big(id, name, price, created) of the
// database at dsn while sampling the Go heap, asserts the heap stays within
// 32 MiB, and parses the output back: rows documents, the last one wantLast.
func exportBig(t *testing.T, dsn string, rows int64, wantLast string) {
	t.Helper()
	cfg := parseConfig(t, `version: 1
feeds:
  - name: big
    query: SELECT id, name, price, created FROM big ORDER BY id
    fields: {id: id, item.name: name, price: {column: price, type: decimal, scale: 2}, created: created}
    format: ndjson
`)
	store, dir := fileStore(t)
	r := &Runner{Config: cfg, DB: openDB(t, dsn), Store: store}
	start := time.Now()
	peak := sampleHeap(t, func() {
		res := runFeeds(t, r, t0)[0]
		if res.Status != StatusSuccess || res.Rows != rows {
			t.Fatalf("%+v", res)
		}
	})
	took := time.Since(start)
	t.Logf("%s: %d rows in %v (%.0f rows/s), peak Go heap %.1f MiB", r.DB.Engine(), rows, took, float64(rows)/took.Seconds(), float64(peak)/(1<<20))
	if peak > 32<<20 {
		t.Fatalf("Go heap reached %.1f MiB, want ≤ 32 MiB (memory must not grow with rows)", float64(peak)/(1<<20))
	}
	f, err := os.Open(filepath.Join(dir, "big", "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var last []byte
	n := eachDoc(t, f, "ndjson", func(raw json.RawMessage) { last = raw })
	if int64(n) != rows || string(last) != wantLast {
		t.Fatalf("parsed %d documents (last %s), want %d (last %s)", n, last, rows, wantLast)
	}
}

// TestBadInputPublishesNothing: each failure leaves the previous version
// served (latest.json, manifest.json) and no stray file behind.
func TestBadInputPublishesNothing(t *testing.T) {
	dsn, _ := scratchDB(t,
		"CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)",
		`INSERT INTO items WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 20000)
		 SELECT i, 'label ' || i FROM n`)
	good := `version: 1
feeds:
  - name: items
    query: SELECT id, label FROM items ORDER BY id
    fields: {id: id, label: label}
`
	tests := []struct {
		name, query, fields, want string
	}{
		{"missing column", "SELECT id, label FROM items", "{id: id, label: lable}", `names column "lable"`},
		{"sql error", "SELECT id, label FROM itemz", "{id: id, label: label}", "no such table: itemz"},
		{"fails halfway", "SELECT id, CASE WHEN id = 15000 THEN json('{broken') ELSE label END AS label FROM items ORDER BY id",
			"{id: id, label: label}", "malformed JSON"},
		{"value not convertible", "SELECT id, label FROM items ORDER BY id", "{id: id, label: {column: label, type: int}}", `cannot publish "label 1" as int`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, dir := fileStore(t)
			source := openDB(t, dsn)
			first := runFeeds(t, &Runner{Config: parseConfig(t, good), DB: source, Store: store}, t0)[0]
			if first.Status != StatusSuccess {
				t.Fatal(first)
			}
			before := readDoc(t, store, latestKey("items"))
			bad := strings.Replace(strings.Replace(good, "SELECT id, label FROM items ORDER BY id", tt.query, 1),
				"{id: id, label: label}", tt.fields, 1)
			res := runFeeds(t, &Runner{Config: parseConfig(t, bad), DB: source, Store: store}, t0.Add(time.Hour))[0]
			if res.Status != StatusError || !strings.Contains(res.Message, tt.want) {
				t.Fatalf("status %s message %q, want error containing %q", res.Status, res.Message, tt.want)
			}
			m := manifestOf(t, store, "items")
			if m.Version != first.Version || len(m.Versions) != 1 {
				t.Fatalf("manifest moved: %+v", m)
			}
			if !bytes.Equal(readDoc(t, store, latestKey("items")), before) {
				t.Fatal("latest.json changed")
			}
			if keys := listKeys(t, store, "items/versions/"); len(keys) != 1 || keys[0] != versionKey("items", first.Version) {
				t.Fatalf("stray versions: %v", keys)
			}
			assertNoTemp(t, dir)
		})
	}
}

// TestConcurrentRuns: runs that race publish one version; an older run that
// finishes last does not move latest or the manifest backwards; the same
// scheduled time delivered twice publishes once.
func TestConcurrentRuns(t *testing.T) {
	dsn, w := scratchDB(t, "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)", "INSERT INTO items (label) VALUES ('a')")
	cfg := parseConfig(t, counterFeed)

	t.Run("same event twice at once", func(t *testing.T) {
		store, dir := fileStore(t)
		done := make(chan Result, 2)
		for range 2 {
			go func() {
				r := &Runner{Config: cfg, DB: openDB(t, dsn), Store: store}
				res, _ := r.Run(context.Background(), Request{ScheduledTime: t0})
				done <- res[0]
			}()
		}
		statuses := []string{(<-done).Status, (<-done).Status}
		sort.Strings(statuses)
		if statuses[0] != StatusSuccess || statuses[1] != StatusUnchanged {
			t.Fatalf("statuses %v, want one success and one unchanged", statuses)
		}
		if keys := listKeys(t, store, "items/versions/"); len(keys) != 1 {
			t.Fatalf("versions %v, want exactly one", keys)
		}
		assertNoTemp(t, dir)
	})

	t.Run("redelivered later", func(t *testing.T) {
		store, _ := fileStore(t)
		r := &Runner{Config: cfg, DB: openDB(t, dsn), Store: store}
		first := runFeeds(t, r, t0)[0]
		if _, err := w.Exec("INSERT INTO items (label) VALUES ('changed meanwhile')"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Exec("DELETE FROM items WHERE label = 'changed meanwhile'") })
		again := runFeeds(t, r, t0)[0]
		if again.Status != StatusSkipped || again.Version != first.Version {
			t.Fatalf("redelivery: %+v", again)
		}
		if keys := listKeys(t, store, "items/versions/"); len(keys) != 1 {
			t.Fatalf("versions %v", keys)
		}
	})

	t.Run("older run finishes last", func(t *testing.T) {
		store, dir := fileStore(t)
		release := make(chan struct{})
		waiting := make(chan struct{})
		old := &Runner{Config: cfg, DB: openDB(t, dsn), Store: store, hook: atStep(stepEncoded, func() {
			close(waiting)
			<-release
		})}
		oldDone := make(chan Result)
		go func() {
			res, _ := old.Run(context.Background(), Request{ScheduledTime: t0})
			oldDone <- res[0]
		}()
		<-waiting
		if _, err := w.Exec("INSERT INTO items (label) VALUES ('newer')"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Exec("DELETE FROM items WHERE label = 'newer'") })
		newer := runFeeds(t, &Runner{Config: cfg, DB: openDB(t, dsn), Store: store}, t0.Add(time.Minute))[0]
		close(release)
		oldRes := <-oldDone
		if newer.Status != StatusSuccess || oldRes.Status != StatusSkipped {
			t.Fatalf("newer %+v, older %+v", newer, oldRes)
		}
		if m := manifestOf(t, store, "items"); m.Version != newer.Version || len(m.Versions) != 1 {
			t.Fatalf("manifest went backwards: %+v", m)
		}
		var docs []map[string]any
		json.Unmarshal(readDoc(t, store, latestKey("items")), &docs)
		if len(docs) != 2 {
			t.Fatalf("latest.json went backwards: %v", docs)
		}
		if keys := listKeys(t, store, "items/versions/"); len(keys) != 1 {
			t.Fatalf("versions %v", keys)
		}
		assertNoTemp(t, dir)
	})
}

func TestUnknownFeed(t *testing.T) {
	store, _ := fileStore(t)
	r := &Runner{Config: sampleConfig(t), DB: openDB(t, chinookDSN), Store: store}
	_, err := r.Run(context.Background(), Request{Feeds: []string{"nope"}})
	if !IsBadRequest(err) {
		t.Fatalf("want a bad request, got %v", err)
	}
	if keys := listKeys(t, store, ""); len(keys) != 0 {
		t.Fatalf("wrote %v", keys)
	}
}
