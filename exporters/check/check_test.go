package check_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/exporters/check"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	_ "github.com/sqlfeed/sqlfeed/infra/blob/s3blob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
	"github.com/sqlfeed/sqlfeed/transform"
)

// testConfig has a gzip JSON feed and a plain ndjson one, with a rate and a cron schedule.
const testConfig = `version: 1
feeds:
  - name: genres
    schedule: rate(1 hour)
    query: SELECT GenreId, Name FROM Genre ORDER BY GenreId
    fields: {id: GenreId, name: Name}
    compress: gzip
  - name: artists
    schedule: cron(15 2 * * ? *)
    format: ndjson
    query: SELECT ArtistId, Name FROM Artist ORDER BY ArtistId
    fields: {id: ArtistId, name: Name}
`

// publish exports the test feeds into s with the real publisher, then adds
// a paged feed written by hand per CONTRACT §5 (paged publishing is not
// built yet).
func publish(t testing.TB, s blob.Store) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Parse("test.yaml", []byte(testConfig), transform.Default)
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(ctx, "sqlite://../../testdata/chinook.db", db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := &exporters.Runner{Config: cfg, DB: d, Store: s, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	res, err := r.Run(ctx, exporters.Request{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range res {
		if x.Status != exporters.StatusSuccess {
			t.Fatalf("publish %s: %s %s", x.Feed, x.Status, x.Message)
		}
	}
	writePaged(t, s, "tracks-paged", 3, 10)
}

func put(t testing.TB, s blob.Store, key string, b []byte, meta blob.Meta) {
	t.Helper()
	if _, err := s.Put(context.Background(), key, bytes.NewReader(b), blob.WriteOptions{Meta: meta}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	z := gzip.NewWriter(&buf)
	z.Write(b)
	z.Close()
	return buf.Bytes()
}

func hexsum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// writePaged writes a paged feed of n pages of per documents {"id", "name"},
// gzip JSON pages, and lists it in index.json.
func writePaged(t testing.TB, s blob.Store, feed string, n, per int) {
	t.Helper()
	ctx := context.Background()
	version := time.Now().UTC().Format("20060102T150405Z") + "-0badcafe"
	type pageEntry struct {
		URL    string `json:"url"`
		Rows   int    `json:"rows"`
		Bytes  int    `json:"bytes"`
		SHA256 string `json:"sha256"`
		First  int    `json:"first"`
		Last   int    `json:"last"`
	}
	var pages []pageEntry
	var digest strings.Builder
	total := 0
	for p := 0; p < n; p++ {
		var docs []string
		for i := 0; i < per; i++ {
			id := p*per + i + 1
			docs = append(docs, fmt.Sprintf(`{"id":%d,"name":"item %d"}`, id, id))
		}
		body := []byte("[" + strings.Join(docs, ",") + "]")
		sum := hexsum(body)
		name := "pages/" + sum[:16] + "-gzip.json"
		put(t, s, feed+"/"+name, gz(body), blob.Meta{ContentType: "application/json", ContentEncoding: "gzip",
			CacheControl: "public, max-age=31536000, immutable", User: map[string]string{"sha256": sum, "rows": strconv.Itoa(per)}})
		pages = append(pages, pageEntry{URL: name, Rows: per, Bytes: len(body), SHA256: sum, First: p*per + 1, Last: p*per + per})
		digest.WriteString(sum + "\n")
		total += len(body)
	}
	feedSHA := hexsum([]byte(digest.String()))
	now := time.Now().UTC().Truncate(time.Second)
	idx, _ := json.Marshal(map[string]any{"feed": feed, "version": version, "generated_at": now, "rows": n * per, "bytes": total,
		"sha256": feedSHA, "content_type": "application/json", "content_encoding": "gzip", "pages": pages})
	meta := func(cache string) blob.Meta {
		return blob.Meta{ContentType: "application/json", CacheControl: cache,
			User: map[string]string{"sha256": feedSHA, "rows": strconv.Itoa(n * per), "version": version}}
	}
	put(t, s, feed+"/versions/"+version+".json", idx, meta("public, max-age=31536000, immutable"))
	put(t, s, feed+"/latest.json", idx, meta("public, max-age=60"))
	schema := `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","additionalProperties":false,` +
		`"required":["id","name"],"properties":{"id":{"type":"integer"},"name":{"type":"string"}}}`
	put(t, s, feed+"/schema.json", []byte(schema), blob.Meta{ContentType: "application/schema+json", CacheControl: "public, max-age=60"})
	man, _ := json.Marshal(map[string]any{"feed": feed, "version": version, "generated_at": now, "checked_at": now,
		"rows": n * per, "bytes": total, "sha256": feedSHA, "content_type": "application/json", "content_encoding": "gzip",
		"paged": true, "versions": []map[string]any{{"version": version, "sha256": feedSHA, "key": feed + "/versions/" + version + ".json"}}})
	put(t, s, feed+"/manifest.json", man, blob.Meta{ContentType: "application/json", CacheControl: "public, max-age=60"})

	b, a, err := blob.ReadAll(ctx, s, "index.json")
	if err != nil {
		t.Fatal(err)
	}
	var cat map[string]any
	if err := json.Unmarshal(b, &cat); err != nil {
		t.Fatal(err)
	}
	cat["feeds"] = append(cat["feeds"].([]any), map[string]any{"name": feed, "schedule": "rate(1 hour)", "paged": true, "pages": n})
	b, _ = json.Marshal(cat)
	put(t, s, "index.json", b, a.Meta)
}

// readDoc returns an object's bytes, uncompressed, and its attributes.
func readDoc(t testing.TB, s blob.Store, key string) ([]byte, blob.Attrs) {
	t.Helper()
	b, a, err := blob.ReadAll(context.Background(), s, key)
	if err != nil {
		t.Fatal(err)
	}
	if a.ContentEncoding == "gzip" {
		z, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(z)
	}
	return b, a
}

// rewrite replaces an object's bytes (uncompressed) keeping its metadata
// and encoding, with edit applied to the metadata.
func rewrite(t testing.TB, s blob.Store, key string, body []byte, edit func(*blob.Meta)) {
	t.Helper()
	_, a := readDoc(t, s, key)
	m := a.Meta
	if edit != nil {
		edit(&m)
	}
	if m.ContentEncoding == "gzip" {
		body = gz(body)
	}
	put(t, s, key, body, m)
}

// editManifest decodes a manifest, lets edit change it, and writes it back.
func editManifest(t testing.TB, s blob.Store, feed string, edit func(m map[string]any)) {
	t.Helper()
	b, _ := readDoc(t, s, feed+"/manifest.json")
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ = json.Marshal(m)
	rewrite(t, s, feed+"/manifest.json", b, nil)
}

func manifestVersion(t testing.TB, s blob.Store, feed string) string {
	t.Helper()
	b, _ := readDoc(t, s, feed+"/manifest.json")
	var m struct{ Version string }
	json.Unmarshal(b, &m)
	return m.Version
}

func firstPage(t testing.TB, s blob.Store, feed string) string {
	t.Helper()
	b, _ := readDoc(t, s, feed+"/latest.json")
	var idx struct{ Pages []struct{ URL string } }
	json.Unmarshal(b, &idx)
	return feed + "/" + idx.Pages[1].URL
}

// scenario is one way a publish can be wrong, and what check must say.
type scenario struct {
	name   string
	tamper func(t testing.TB, s blob.Store)
	opt    check.Options
	// want: feed → substrings of one of its problems; empty: clean.
	want map[string]string
	// httpOnly: only HTTP can see it (over file:// and s3:// it checks clean).
	httpOnly bool
	// proxy: the server ignores If-None-Match.
	ignoreINM bool
}

var scenarios = []scenario{
	{name: "good"},
	{name: "byte-changed", want: map[string]string{"artists": "latest.json: sha256"},
		tamper: func(t testing.TB, s blob.Store) {
			b, _ := readDoc(t, s, "artists/latest.json")
			i := bytes.Index(b, []byte("AC/DC"))
			b[i] = 'X' // still a valid document: only the sha256 can tell
			rewrite(t, s, "artists/latest.json", b, nil)
		}},
	{name: "text-plain", httpOnly: true, want: map[string]string{"genres": `latest.json: Content-Type is "text/plain"`},
		tamper: func(t testing.TB, s blob.Store) {
			b, _ := readDoc(t, s, "genres/latest.json")
			rewrite(t, s, "genres/latest.json", b, func(m *blob.Meta) { m.ContentType = "text/plain" })
		}},
	{name: "schema-violation", want: map[string]string{"genres": "1 documents do not validate against schema.json"},
		tamper: func(t testing.TB, s blob.Store) {
			b, _ := readDoc(t, s, "genres/latest.json")
			b = bytes.Replace(b, []byte(`"name":"Rock"`), []byte(`"name":12345`), 1)
			sum := hexsum(b)
			rewrite(t, s, "genres/latest.json", b, func(m *blob.Meta) { m.User["sha256"] = sum })
			editManifest(t, s, "genres", func(m map[string]any) { m["sha256"], m["bytes"] = sum, len(b) })
		}},
	{name: "deleted-version", want: map[string]string{"genres": "the manifest's version"},
		tamper: func(t testing.TB, s blob.Store) {
			v := manifestVersion(t, s, "genres")
			if err := s.Delete(context.Background(), "genres/versions/"+v+".json"); err != nil {
				t.Fatal(err)
			}
		}},
	{name: "missing-page", want: map[string]string{"tracks-paged": "not found"},
		tamper: func(t testing.TB, s blob.Store) {
			if err := s.Delete(context.Background(), firstPage(t, s, "tracks-paged")); err != nil {
				t.Fatal(err)
			}
		}},
	{name: "corrupted-page", want: map[string]string{"tracks-paged": ": sha256"},
		tamper: func(t testing.TB, s blob.Store) {
			k := firstPage(t, s, "tracks-paged")
			b, _ := readDoc(t, s, k)
			b = bytes.Replace(b, []byte("item 1"), []byte("item X"), 1)
			rewrite(t, s, k, b, nil)
		}},
	{name: "stale", opt: check.Options{MaxAge: time.Minute, Now: func() time.Time { return time.Now().Add(10 * time.Minute) }},
		want: map[string]string{"genres": "stale", "artists": "stale", "tracks-paged": "stale"}},
	{name: "stale-by-schedule", opt: check.Options{Now: func() time.Time { return time.Now().Add(3 * time.Hour) }},
		want: map[string]string{"genres": "twice its schedule rate(1 hour)", "tracks-paged": "stale"}},
	{name: "stable", // unchanged for days, confirmed on schedule: clean
		opt: check.Options{Now: func() time.Time { return time.Now().Add(time.Hour) }},
		tamper: func(t testing.TB, s blob.Store) {
			editManifest(t, s, "genres", func(m map[string]any) {
				m["generated_at"] = time.Now().Add(-72 * time.Hour).UTC()
				m["checked_at"] = time.Now().Add(-10 * time.Minute).UTC()
			})
		}},
	{name: "ignores-if-none-match", httpOnly: true, ignoreINM: true,
		want: map[string]string{"genres": "answered 200", "artists": "answered 200", "tracks-paged": "answered 200"}},
}

// backend is one way of reaching a published prefix.
type backend struct {
	name        string
	http, minio bool
	// open returns the store to publish into for a scenario and the URL to check.
	open func(t *testing.T, sc scenario) (blob.Store, string)
}

// noINM wraps h so that it never sees If-None-Match, like a broken cache.
func noINM(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("If-None-Match")
		h.ServeHTTP(w, r)
	})
}

func TestCheck(t *testing.T) {
	// MinIO is started on the test itself (it sets the SDK's environment for
	// the rest of it), once the backends without it have run.
	var m *testsvc.MinIO
	minio := func(*testing.T) *testsvc.MinIO { return m }
	folder := func(t *testing.T) *fileblob.Store {
		s, err := fileblob.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	backends := []backend{
		{name: "file", open: func(t *testing.T, sc scenario) (blob.Store, string) {
			s := folder(t)
			return s, "file://" + s.Root()
		}},
		{name: "serve", http: true, open: func(t *testing.T, sc scenario) (blob.Store, string) {
			s := folder(t)
			var h http.Handler = fileblob.Handler(s)
			if sc.ignoreINM {
				h = noINM(h)
			}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			return s, srv.URL + "/"
		}},
		{name: "s3", minio: true, open: func(t *testing.T, sc scenario) (blob.Store, string) {
			u := minio(t).URL() + "/s3-" + sc.name
			return openStore(t, u), u
		}},
		{name: "minio-http", http: true, minio: true, open: func(t *testing.T, sc scenario) (blob.Store, string) {
			mi := minio(t)
			s := openStore(t, mi.URL()+"/http-"+sc.name)
			base := mi.ObjectURL(mi.Prefix + "/http-" + sc.name + "/")
			if sc.ignoreINM {
				target, _ := url.Parse(mi.Endpoint)
				srv := httptest.NewServer(noINM(httputil.NewSingleHostReverseProxy(target)))
				t.Cleanup(srv.Close)
				base = srv.URL + "/" + mi.Bucket + "/" + mi.Prefix + "/http-" + sc.name + "/"
			}
			return s, base
		}},
	}
	for _, b := range backends {
		if b.minio && m == nil {
			m = testsvc.StartMinIO(t)
		}
		t.Run(b.name, func(t *testing.T) {
			for _, sc := range scenarios {
				if sc.ignoreINM && !b.http {
					continue
				}
				t.Run(sc.name, func(t *testing.T) {
					s, u := b.open(t, sc)
					publish(t, s)
					if sc.tamper != nil {
						sc.tamper(t, s)
					}
					rep, err := check.Run(context.Background(), u, sc.opt)
					if err != nil {
						t.Fatal(err)
					}
					want := sc.want
					if sc.httpOnly && !b.http {
						want = nil
					}
					t.Logf("check %s:\n%s", u, strings.Join(rep.Lines(), "\n"))
					assertReport(t, rep, want)
				})
			}
		})
	}
}

func openStore(t testing.TB, u string) blob.Store {
	t.Helper()
	s, err := blob.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// assertReport checks that exactly the feeds of want have problems, each one
// containing want's text and naming its feed, and that the rest are clean.
func assertReport(t testing.TB, rep *check.Report, want map[string]string) {
	t.Helper()
	if len(rep.Problems) > 0 {
		t.Errorf("top-level problems: %q", rep.Problems)
	}
	if len(rep.Feeds) != 3 {
		t.Fatalf("feeds: %d, want 3", len(rep.Feeds))
	}
	for _, f := range rep.Feeds {
		text, bad := want[f.Feed]
		switch {
		case !bad && len(f.Problems) > 0:
			t.Errorf("feed %s: unexpected problems:\n%s", f.Feed, strings.Join(f.Problems, "\n"))
		case bad && !containsLine(f.Problems, text):
			t.Errorf("feed %s: want a problem with %q, got:\n%s", f.Feed, text, strings.Join(f.Problems, "\n"))
		}
		for _, p := range f.Problems {
			if !strings.HasPrefix(p, "feed "+f.Feed+": ") {
				t.Errorf("problem does not name its feed: %q", p)
			}
		}
	}
	if rep.OK != (len(want) == 0) {
		t.Errorf("ok = %v with %d problems", rep.OK, len(rep.Lines()))
	}
}

// containsLine reports whether a line contains s, ignoring case.
func containsLine(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(strings.ToLower(l), strings.ToLower(s)) {
			return true
		}
	}
	return false
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	for _, u := range []string{srv.URL + "/feeds/", "file://" + t.TempDir() + "/nothing", "file://" + t.TempDir()} {
		rep, err := check.Run(context.Background(), u, check.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK || len(rep.Problems) != 1 || len(rep.Feeds) != 0 {
			t.Errorf("%s: %+v", u, rep)
		}
	}
	if _, err := check.Run(context.Background(), "ftp://x/y", check.Options{}); err == nil {
		t.Error("ftp:// accepted")
	}
}

// TestConcurrencyBound: pages are read at most Concurrency at a time (and
// really concurrently).
func TestConcurrencyBound(t *testing.T) {
	s, err := fileblob.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	publish(t, s)
	writePaged(t, s, "many-pages", 12, 5)
	var mu sync.Mutex
	inFlight, most := 0, 0
	h := fileblob.Handler(s)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/pages/") || r.Method != http.MethodGet {
			h.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		h.ServeHTTP(w, r)
		mu.Lock()
		inFlight--
		mu.Unlock()
	}))
	defer srv.Close()
	rep, err := check.Run(context.Background(), srv.URL+"/", check.Options{Concurrency: 2})
	if err != nil || !rep.OK {
		t.Fatalf("%v %q", err, rep.Lines())
	}
	if most != 2 {
		t.Fatalf("at most %d pages read at once, want 2", most)
	}
}
