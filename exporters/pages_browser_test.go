package exporters

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/sqlfeed/sqlfeed/exporters/site"
	"github.com/sqlfeed/sqlfeed/exporters/site/browser"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// The browser tests load the published pages in headless Chromium (Debian's
// chromium; under CI=true a missing one fails) from an HTTP server over the
// published folder, and from the folder itself (file://).

// startBrowser returns a chromedp context on a fresh headless Chromium that
// records every request it makes and every CSP violation of the pages.
func startBrowser(t *testing.T, width, height int) (context.Context, *browserLog) {
	t.Helper()
	if _, err := browser.Find(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	bctx, closeBrowser, err := browser.Start(ctx, t.TempDir(), width, height)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeBrowser)
	log := &browserLog{}
	err = chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			log.add(e.Request.URL)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// Runs before any script of a page, whatever its CSP.
	const record = `window.__csp = []; document.addEventListener("securitypolicyviolation", function (e) { window.__csp.push(e.violatedDirective + " " + e.blockedURI); });`
	if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(bctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: record}); err != nil {
		t.Fatal(err)
	}
	return bctx, log
}

// browserLog is the URLs the browser requested.
type browserLog struct {
	mu   sync.Mutex
	urls []string
}

func (l *browserLog) add(u string) { l.mu.Lock(); l.urls = append(l.urls, u); l.mu.Unlock() }

// foreign returns the requests that went anywhere but base (data: and
// about: URLs are not network requests).
func (l *browserLog) foreign(base string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, u := range l.urls {
		if !strings.HasPrefix(u, base) && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "about:") {
			out = append(out, u)
		}
	}
	return out
}

// serveFolder serves a published folder as S3 would: a key per file, no
// directory listings and no redirects (http.FileServer sends …/index.html
// to …/).
func serveFolder(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean(r.URL.Path)
		if strings.Contains(p, "/.") {
			http.NotFound(w, r)
			return
		}
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || fi.IsDir() {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(p, ".html") {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// pageState is what the tests read from a loaded page.
type pageState struct {
	Title    string   `json:"title"`
	H1       string   `json:"h1"`
	CSP      string   `json:"csp"`
	Blocked  []string `json:"blocked"`
	XSS      any      `json:"xss"`
	Scripts  int      `json:"scripts"`
	Foreign  int      `json:"foreign"` // elements no page of ours has
	Links    []string `json:"links"`   // resolved hrefs
	Ago      []string `json:"ago"`
	Marks    []string `json:"marks"`
	Text     string   `json:"text"`
	MaxWidth int      `json:"maxWidth"` // widest element's right edge, px
	Width    int      `json:"width"`    // viewport width, px
}

const readPage = `(function () {
  var q = function (s) { return Array.prototype.slice.call(document.querySelectorAll(s)); };
  var right = 0;
  q("body *").forEach(function (e) {
    if (e.closest(".scroll") || e.closest("pre")) return;
    var r = e.getBoundingClientRect(); if (r.right > right) right = r.right;
  });
  var meta = document.querySelector('meta[http-equiv="Content-Security-Policy"]');
  return {
    title: document.title,
    h1: (document.querySelector("h1") || {}).textContent || "",
    csp: meta ? meta.content : "",
    blocked: window.__csp || ["no recorder"],
    xss: window.__xss === undefined ? null : window.__xss,
    scripts: q("script").length,
    foreign: q("img,svg,iframe,object,embed,b,form,input,link,base,style:not(head style)").length,
    links: q("a[href]").map(function (a) { return a.href; }),
    ago: q(".ago").map(function (e) { return e.textContent; }),
    marks: q(".mark").map(function (e) { return e.textContent; }),
    text: document.body.innerText,
    maxWidth: Math.ceil(right),
    width: document.documentElement.clientWidth
  };
})()`

func loadPage(t *testing.T, ctx context.Context, u string) pageState {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		t.Fatalf("load %s: %v", u, err)
	}
	s, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](readPage))
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	if len(s.Blocked) > 0 {
		t.Errorf("%s: CSP blocked %v", u, s.Blocked)
	}
	if !strings.HasPrefix(s.CSP, "default-src 'none'; script-src 'sha256-") {
		t.Errorf("%s: CSP %q", u, s.CSP)
	}
	if s.XSS != nil {
		t.Errorf("%s: injected script ran: window.__xss = %v", u, s.XSS)
	}
	if s.MaxWidth > s.Width+1 {
		t.Errorf("%s: content %dpx wide in a %dpx viewport", u, s.MaxWidth, s.Width)
	}
	return s
}

// evalJS evaluates expr in the current page.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// checkLinks requires every same-site link to resolve (HTTP 200).
func checkLinks(t *testing.T, base string, links []string) {
	t.Helper()
	for _, l := range links {
		if !strings.HasPrefix(l, base) {
			continue
		}
		res, err := http.Get(l)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("link %s: %s", l, res.Status)
		}
	}
}

var agoText = regexp.MustCompile(`^(just now|\d+ (minute|hour|day|year)s? ago)$`)

// TestPagesInBrowser loads the demo's catalog and feed pages.
func TestPagesInBrowser(t *testing.T) {
	cfg := sampleConfig(t)
	store, dir := fileStore(t)
	// Published three hours ago: tracks (hourly) is overdue, the daily feeds are current.
	published := time.Now().Add(-3 * time.Hour)
	r := &Runner{Config: cfg, DB: openDB(t, chinookDSN), Store: store, Now: func() time.Time { return published }}
	runFeeds(t, r, published)
	srv := serveFolder(t, dir)
	ctx, log := startBrowser(t, 1280, 900)
	base := srv.URL + "/"

	t.Run("catalog", func(t *testing.T) {
		s := loadPage(t, ctx, base+"index.html")
		if s.H1 != "Feeds" || s.Title != "Feeds" || s.Scripts != 1 || s.Foreign != 0 {
			t.Fatalf("catalog: %+v", s)
		}
		for _, f := range cfg.Feeds {
			if !strings.Contains(strings.Join(s.Links, " "), base+f.Name+"/index.html") {
				t.Errorf("no link to %s/index.html in %v", f.Name, s.Links)
			}
			if !strings.Contains(s.Text, f.Description) {
				t.Errorf("catalog lacks the description of %s", f.Name)
			}
		}
		checkLinks(t, base, s.Links)
		if len(s.Ago) != len(cfg.Feeds) {
			t.Fatalf("relative times %v", s.Ago)
		}
		for _, a := range s.Ago {
			if a != "3 hours ago" {
				t.Errorf("relative time %q, want 3 hours ago", a)
			}
		}
		marks := map[string]string{}
		for _, f := range cfg.Feeds {
			marks[f.Name] = evalJS[string](t, ctx, fmt.Sprintf(`document.querySelector("#feed-%s .mark").textContent`, f.Name))
		}
		if !strings.Contains(marks["tracks"], "no new version") || !strings.Contains(marks["albums"], "current") {
			t.Errorf("freshness marks %v", marks)
		}
	})

	t.Run("feed", func(t *testing.T) {
		s := loadPage(t, ctx, base+"tracks/index.html")
		if s.H1 != "tracks" || s.Scripts != 2 || s.Foreign != 0 {
			t.Fatalf("feed page: %+v", s)
		}
		checkLinks(t, base, s.Links)
		for _, want := range []string{base + "index.html", base + "tracks/latest.json", base + "tracks/schema.json",
			base + "tracks/manifest.json", base + "tracks/versions/" + manifestOf(t, store, "tracks").Version + ".json"} {
			if !strings.Contains(strings.Join(s.Links, " "), want) {
				t.Errorf("no link to %s", want)
			}
		}
		type field struct{ Key, Type, Nullable, Class string }
		fields := evalJS[[]field](t, ctx, `Array.prototype.map.call(document.querySelectorAll("#fields-table tbody tr"), function (tr) {
			return {Key: tr.cells[0].textContent, Type: tr.cells[1].textContent, Nullable: tr.cells[2].textContent, Class: tr.cells[0].className};
		})`)
		got := fmt.Sprint(fields)
		for _, want := range []string{"{id integer yes }", "{album object no }", "{album.title string yes d1}", "{price number yes }"} {
			if !strings.Contains(got, want) {
				t.Errorf("fields table lacks %s: %s", want, got)
			}
		}
		scope := evalJS[string](t, ctx, `document.querySelector("#fields-table tbody th").getAttribute("scope")`)
		rows := evalJS[[][]string](t, ctx, `Array.prototype.map.call(document.querySelectorAll("#preview-table tbody tr"), function (tr) {
			return Array.prototype.map.call(tr.cells, function (c) { return c.textContent; });
		})`)
		head := evalJS[[]string](t, ctx, `Array.prototype.map.call(document.querySelectorAll("#preview-table thead th"), function (c) { return c.textContent; })`)
		if scope != "row" || len(rows) != site.PreviewDocs || len(head) < 4 || head[0] != "id" || head[2] != "album.id" {
			t.Fatalf("preview: scope %q, head %v, %d rows", scope, head, len(rows))
		}
		if rows[0][0] != "1" || rows[0][1] != "For Those About To Rock (We Salute You)" || rows[19][0] != "20" {
			t.Errorf("preview rows: %v … %v", rows[0], rows[19])
		}
		// Served over HTTP, the snippets show the absolute URL.
		urls := evalJS[[]string](t, ctx, `Array.prototype.map.call(document.querySelectorAll("[data-href]"), function (e) { return e.textContent; })`)
		if len(urls) != 3 || urls[0] != base+"tracks/latest.json" {
			t.Errorf("snippet URLs %v", urls)
		}
		if len(s.Ago) != 1 || !agoText.MatchString(s.Ago[0]) || !strings.Contains(s.Marks[0], "no new version") {
			t.Errorf("relative time %v %v", s.Ago, s.Marks)
		}
	})

	t.Run("folder", func(t *testing.T) {
		// Opened from disk: everything reads, the script runs, snippets stay relative.
		s := loadPage(t, ctx, "file://"+dir+"/albums/index.html")
		if s.H1 != "albums" || len(s.Ago) != 1 || s.Ago[0] != "3 hours ago" || !strings.Contains(s.Marks[0], "current") {
			t.Fatalf("from a folder: %+v", s)
		}
		if u := evalJS[string](t, ctx, `document.querySelector("[data-href]").textContent`); u != "albums/latest.json" {
			t.Errorf("snippet URL from a folder: %q", u)
		}
		cat := loadPage(t, ctx, "file://"+dir+"/index.html")
		if len(cat.Ago) != len(cfg.Feeds) {
			t.Errorf("catalog from a folder: %+v", cat)
		}
	})

	t.Run("phone", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile)); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"index.html", "tracks/index.html", "albums/index.html"} {
			loadPage(t, ctx, base+p) // checks nothing but the scroll boxes is wider than the screen
		}
	})

	if f := log.foreign(base); len(f) > 0 {
		// file:// loads are the folder test's own.
		var other []string
		for _, u := range f {
			if !strings.HasPrefix(u, "file://") {
				other = append(other, u)
			}
		}
		if len(other) > 0 {
			t.Errorf("requests to other hosts: %v", other)
		}
	}
}

// hostile values: each would run (set window.__xss) or add an element if it
// reached the page unescaped, in any of the contexts it lands in (table
// cells, <pre>, attributes, the preview's JSON script element).
var hostile = []string{
	`<script>window.__xss=1</script>`,
	`<img src=x onerror="window.__xss=2">`,
	`"'><svg onload=window.__xss=3>`,
	`</code></pre><script>window.__xss=4</script><pre>`,
	`</script><script>window.__xss=5</script><!--`,
	`' onmouseover='window.__xss=6' x='`,
}

// TestPagesHostileText publishes a description, a key and values made to
// break out of HTML and checks in the browser that they stay text.
func TestPagesHostileText(t *testing.T) {
	stmts := []string{`CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)`}
	for i, h := range hostile {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO items VALUES (%d, '%s')`, i+1, strings.ReplaceAll(h, "'", "''")))
	}
	dsn, _ := scratchDB(t, stmts...)
	description := `<script>window.__xss=7</script> & "quotes" 'single' </pre><img src=x onerror=window.__xss=8>`
	cfg := parseConfig(t, `version: 1
feeds:
  - name: hostile
    description: |-
      `+description+`
    schedule: rate(5 minutes)
    mapper: raw
    query: SELECT id, v, v AS "<b onmouseover=window.__xss=9>k</b>" FROM items ORDER BY id
`)
	store, dir := fileStore(t)
	r := &Runner{Config: cfg, DB: openDB(t, dsn), Store: store}
	if res := runFeeds(t, r, time.Now()); res[0].Status != StatusSuccess {
		t.Fatalf("run: %+v", res)
	}
	if p := site.ParsePreview(readDoc(t, store, feedPageKey("hostile"))); p == nil || len(p.Docs) != len(hostile) || !strings.Contains(p.Docs[4], `</script>`) {
		t.Fatalf("embedded preview does not round-trip: %+v", p)
	}
	srv := serveFolder(t, dir)
	ctx, _ := startBrowser(t, 1280, 900)
	for _, u := range []string{srv.URL + "/index.html", srv.URL + "/hostile/index.html"} {
		s := loadPage(t, ctx, u) // fails on window.__xss and on CSP violations (an injected inline script)
		wantScripts := 1
		if strings.HasSuffix(u, "/hostile/index.html") {
			wantScripts = 2
		}
		if s.Scripts != wantScripts || s.Foreign != 0 {
			t.Errorf("%s: %d scripts, %d foreign elements: the page's markup changed", u, s.Scripts, s.Foreign)
		}
		if !strings.Contains(s.Text, description) {
			t.Errorf("%s: description not shown as text:\n%s", u, s.Text)
		}
		attrs := evalJS[int](t, ctx, `Array.prototype.filter.call(document.querySelectorAll("*"), function (e) {
			return Array.prototype.some.call(e.attributes, function (a) { return /^on/i.test(a.name) || a.name === "x"; });
		}).length`)
		if attrs != 0 {
			t.Errorf("%s: %d elements with event-handler attributes", u, attrs)
		}
		if !strings.HasSuffix(u, "/hostile/index.html") {
			continue
		}
		cells := evalJS[[]string](t, ctx, `Array.prototype.map.call(document.querySelectorAll("#preview-table tbody tr td:nth-child(2)"), function (c) { return c.textContent; })`)
		if strings.Join(cells, "\n") != strings.Join(hostile, "\n") {
			t.Errorf("preview cells:\n%q\nwant\n%q", cells, hostile)
		}
		pre := evalJS[string](t, ctx, `document.querySelector("#preview-json").textContent`)
		for _, h := range hostile {
			if !strings.Contains(pre, strings.ReplaceAll(h, `"`, `\"`)) {
				t.Errorf("JSON preview lacks %q", h)
			}
		}
		key := evalJS[string](t, ctx, `document.querySelector("#preview-table thead th:nth-child(3)").textContent`)
		if key != "<b onmouseover=window.__xss=9>k</b>" {
			t.Errorf("hostile key shown as %q", key)
		}
	}
}

// TestPagesFromS3InBrowser: the pages published to S3 (MinIO, public-read on
// the prefix) load anonymously with their metadata, and every link between
// them and to the feeds resolves as an S3 key.
func TestPagesFromS3InBrowser(t *testing.T) {
	m := testsvc.StartMinIO(t)
	store := openStore(t, m.URL())
	r := &Runner{Config: sampleConfig(t), DB: openDB(t, chinookDSN), Store: store, Log: slog.New(slog.DiscardHandler)}
	runFeeds(t, r, time.Now())
	base := m.ObjectURL(m.Prefix + "/")
	ctx, log := startBrowser(t, 1280, 900)
	for _, p := range []string{"index.html", "tracks/index.html", "invoices-by-country/index.html"} {
		res, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
			res.Header.Get("Cache-Control") != "public, max-age=60" {
			t.Fatalf("GET %s: %s %v", p, res.Status, res.Header)
		}
		s := loadPage(t, ctx, base+p)
		if len(s.Ago) == 0 || !agoText.MatchString(s.Ago[0]) {
			t.Errorf("%s: relative time %v", p, s.Ago)
		}
		checkLinks(t, base, s.Links)
	}
	if f := log.foreign(m.Endpoint); len(f) > 0 {
		t.Errorf("requests to other hosts: %v", f)
	}
}
