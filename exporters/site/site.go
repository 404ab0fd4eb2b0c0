// Package site renders the pages for people that sqlfeed publishes next to
// the feeds (CONTRACT §5): the catalog (<prefix>/index.html) and a page per
// feed (<prefix>/<feed>/index.html).
//
// Rendering is a pure function of plain data: the same input gives the same
// bytes, and nothing in a page depends on when it was rendered, so a feed
// whose content is unchanged keeps a byte-identical page. Relative times
// ("5 minutes ago") and the freshness mark are computed in the browser by a
// few lines of inline script from data attributes; everything else reads
// without script. The pages load nothing from anywhere (styles and script are
// inline and allowed by their sha256 in a Content-Security-Policy), so they
// work from S3, over any HTTP server and from a folder on disk.
package site

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Feed is what the pages show of one published feed: its config and the
// current version from its manifest.
type Feed struct {
	Name            string
	Description     string
	Schedule        string // EventBridge expression, or empty
	Format          string // json | ndjson
	ContentEncoding string // gzip or identity (empty: identity)
	Version         string
	GeneratedAt     time.Time // when the current version was published
	Rows, Bytes     int64
	SHA256          string
	Paged           bool // published as pages; latest.json is the page index
	PageCount       int
}

// Catalog is the input of the catalog page.
type Catalog struct {
	Feeds []Feed
	// PublicURL is the public URL of the prefix (config public_url), or
	// empty: snippets then show paths relative to the prefix.
	PublicURL string
}

// Version is one kept version of a feed (from its manifest), newest first.
type Version struct {
	Version         string
	GeneratedAt     time.Time
	Rows, Bytes     int64
	SHA256          string
	ContentEncoding string
}

// Page is one page of a paged feed (from its page index).
type Page struct {
	URL         string // relative to the feed's folder: pages/<name>.json
	Rows, Bytes int64
	SHA256      string
	First, Last string // the page's first and last key, as JSON text
}

// FeedPage is the input of a feed's page.
type FeedPage struct {
	Feed      Feed
	PublicURL string         // as in Catalog
	Schema    map[string]any // the feed's JSON Schema (schema.json), or nil
	Preview   *Preview       // the first documents of the current version, or nil
	Versions  []Version
	Pages     []Page // paged feeds: the current version's pages
}

// CatalogHTML renders <prefix>/index.html.
func CatalogHTML(c Catalog) ([]byte, error) {
	type row struct {
		Feed
		Interval int64
	}
	data := struct {
		Head  head
		Feeds []row
	}{Head: newHead("Feeds")}
	for _, f := range c.Feeds {
		data.Feeds = append(data.Feeds, row{Feed: f, Interval: int64(Interval(f.Schedule) / time.Second)})
	}
	return render(catalogTmpl, data)
}

// FeedPageHTML renders <prefix>/<feed>/index.html.
func FeedPageHTML(p FeedPage) ([]byte, error) {
	f := p.Feed
	data := struct {
		Head      head
		Feed      Feed
		Interval  int64
		Fields    []Field
		Versions  []Version
		Preview   *Preview
		Table     previewTable
		JSON      string
		Data      template.JS
		Snippets  []snippet
		Pages     []Page
		PageStats *pageStats
		PageLimit int
	}{Head: newHead(f.Name), Feed: f, Interval: int64(Interval(f.Schedule) / time.Second), Versions: p.Versions,
		Pages: p.Pages, PageLimit: pageRowsShown}
	if p.Schema != nil {
		data.Fields = Fields(p.Schema)
	}
	if p.Preview != nil && len(p.Preview.Docs) > 0 {
		data.Preview, data.Table, data.JSON = p.Preview, tableOf(p.Preview), previewJSON(p.Preview)
		js, err := previewData(p.Preview)
		if err != nil {
			return nil, fmt.Errorf("render %s page: preview: %w", f.Name, err)
		}
		data.Data = template.JS(js)
	}
	if len(p.Pages) > 0 {
		data.PageStats = statsOf(p.Pages)
	}
	data.Snippets = snippets(f, p.PublicURL)
	return render(feedTmpl, data)
}

func render(t *template.Template, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", t.Name(), err)
	}
	return b.Bytes(), nil
}

// head is what every page's <head> holds.
type head struct {
	Title  string
	CSP    string
	Style  template.CSS
	Script template.JS
}

func newHead(title string) head {
	return head{Title: title, CSP: csp, Style: template.CSS(style), Script: template.JS(script)}
}

// hash is the CSP source of an inline element's exact text.
func hash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// csp allows the page's own inline style and script (by hash) and nothing
// else: no other script, no images, frames, fonts or connections.
var csp = "default-src 'none'; script-src " + hash(script) + "; style-src " + hash(style) +
	"; img-src 'none'; base-uri 'none'; form-action 'none'"

// script is the pages' only script: it writes "n minutes ago" and a freshness
// mark next to every [data-time] (RFC 3339) from its data-interval (seconds
// between scheduled runs), and, when the page is served over HTTP, shows
// snippet URLs ([data-href]) absolute.
const script = `(function () {
  var units = [["year", 31536000], ["day", 86400], ["hour", 3600], ["minute", 60]];
  function ago(s) {
    for (var i = 0; i < units.length; i++) {
      var n = Math.floor(s / units[i][1]);
      if (n >= 1) return n + " " + units[i][0] + (n > 1 ? "s" : "") + " ago";
    }
    return "just now";
  }
  var now = Date.now();
  document.querySelectorAll("[data-time]").forEach(function (e) {
    var t = Date.parse(e.getAttribute("data-time"));
    if (isNaN(t)) return;
    var s = Math.max(0, (now - t) / 1000), iv = Number(e.getAttribute("data-interval")) || 0;
    var a = e.querySelector(".ago");
    if (a) a.textContent = ago(s);
    var m = e.querySelector(".mark");
    if (m && iv > 0) {
      var fresh = s <= 2 * iv;
      m.textContent = fresh ? "\u25cf current" : "\u25cb no new version for over two schedule intervals";
      m.className = "mark " + (fresh ? "fresh" : "old");
    }
  });
  if (/^https?:$/.test(location.protocol)) {
    document.querySelectorAll("[data-href]").forEach(function (e) {
      e.textContent = new URL(e.getAttribute("data-href"), location.href).href;
    });
  }
})();`

const style = `:root{color-scheme:light dark;--fg:#1b1b1b;--muted:#4a4a4a;--bg:#fff;--line:#d0d0d0;--alt:#f4f4f4;--link:#0645ad;--ok:#1a7f37;--old:#8a5300}
@media (prefers-color-scheme:dark){:root{--fg:#ececec;--muted:#b8b8b8;--bg:#121212;--line:#3a3a3a;--alt:#1d1d1d;--link:#8ab4f8;--ok:#57d97a;--old:#f0b45a}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:72rem;padding:1rem;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--link)}
h1{font-size:1.75rem;margin:.5rem 0}h2{font-size:1.3rem;margin:2rem 0 .5rem}
.muted,caption{color:var(--muted)}
.desc{white-space:pre-line;font-size:1.1rem}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.95rem}
caption{text-align:left;padding:.25rem 0}
th,td{text-align:left;vertical-align:top;padding:.35rem .6rem;border-bottom:1px solid var(--line)}
thead th{border-bottom:2px solid var(--line);white-space:nowrap}
tbody tr:nth-child(even){background:var(--alt)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
pre{background:var(--alt);border:1px solid var(--line);padding:.75rem;overflow-x:auto;white-space:pre}
.d1{padding-left:1.8rem}.d2{padding-left:3rem}.d3{padding-left:4.2rem}.d4{padding-left:5.4rem}.d5{padding-left:6.6rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
.mark.fresh{color:var(--ok)}.mark.old{color:var(--old)}.ago{color:var(--muted)}
.ago:not(:empty)::before,.mark:not(:empty)::before{content:" \00b7  "}
.feed h2{margin:0;font-size:1.2rem}
.cards{list-style:none;padding:0;margin:0}
.feed{border:1px solid var(--line);border-radius:.4rem;padding:.9rem 1rem;margin:0 0 1rem}
.feed p{margin:.3rem 0}
footer{margin-top:3rem;color:var(--muted);font-size:.9rem}
@media (max-width:40rem){body{padding:.75rem;font-size:15px}h1{font-size:1.4rem}dl{gap:.3rem .75rem}.feed{padding:.75rem}th,td{padding:.3rem .4rem}}`

// pageRowsShown bounds the key-range table of a paged feed (the page
// index, linked from the page, lists every page).
const pageRowsShown = 50

// pageStats summarises the pages of a paged feed.
type pageStats struct {
	Count                           int
	MinBytes, MedianBytes, MaxBytes int64
	MinRows, MedianRows, MaxRows    int64
}

func statsOf(pages []Page) *pageStats {
	b := make([]int64, len(pages))
	r := make([]int64, len(pages))
	for i, p := range pages {
		b[i], r[i] = p.Bytes, p.Rows
	}
	slices.Sort(b)
	slices.Sort(r)
	n := len(pages)
	return &pageStats{Count: n, MinBytes: b[0], MedianBytes: b[n/2], MaxBytes: b[n-1],
		MinRows: r[0], MedianRows: r[n/2], MaxRows: r[n-1]}
}

// snippet is one copy-ready way of fetching the feed.
type snippet struct {
	Lang  string
	Label string
	Code  template.HTML
}

// snippets builds curl, JavaScript and Python examples. The URL is absolute
// when public_url is set; otherwise it is the path relative to the prefix,
// marked with data-href so the page's script can show it absolute when the
// page is served over HTTP.
func snippets(f Feed, publicURL string) []snippet {
	rel := f.Name + "/latest.json"
	url := template.HTML(template.HTMLEscapeString(rel))
	if publicURL != "" {
		url = template.HTML(template.HTMLEscapeString(strings.TrimRight(publicURL, "/") + "/" + rel))
	} else {
		url = template.HTML(`<span data-href="latest.json">`) + url + "</span>"
	}
	var curlJQ, jsBody, pyBody string
	switch {
	case f.Paged:
		curlJQ = `| jq '.pages[] | {url, rows, first, last}'`
		jsBody = "const index = await res.json();      // the page index\n" +
			"for (const p of index.pages) {\n" +
			"  const page = await fetch(new URL(p.url, res.url)).then(r => r.json());\n" +
			"}"
		pyBody = "index = json.loads(body)  # the page index; pages: urljoin(url, p[\"url\"])"
	case f.Format == "ndjson":
		curlJQ = `| jq -c . | head -n 3`
		jsBody = "const docs = (await res.text()).trim().split(\"\\n\").map(JSON.parse);"
		pyBody = "docs = [json.loads(line) for line in body.splitlines()]"
	default:
		curlJQ = `| jq '.[:3]'`
		jsBody = "const docs = await res.json();"
		pyBody = "docs = json.loads(body)"
	}
	esc := template.HTMLEscapeString
	return []snippet{
		{Lang: "shell", Label: "curl and jq", Code: "curl -s --compressed '" + url + "' " + template.HTML(esc(curlJQ))},
		{Lang: "javascript", Label: "JavaScript (fetch)", Code: "const res = await fetch(\"" + url + "\");\n" + template.HTML(esc(jsBody))},
		{Lang: "python", Label: "Python (urllib)", Code: "import gzip, json, urllib.request\n\n" +
			"with urllib.request.urlopen(\"" + url + "\") as r:\n" +
			"    body = r.read()\n" +
			"    if r.headers.get(\"Content-Encoding\") == \"gzip\":\n" +
			"        body = gzip.decompress(body)\n" + template.HTML(esc(pyBody))},
	}
}

var funcs = template.FuncMap{
	"utc": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"rfc3339": func(t time.Time) string {
		return t.UTC().Format(time.RFC3339)
	},
	"size":  humanBytes,
	"upper": strings.ToUpper,
	"count": groupDigits,
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"depth": func(d int) string {
		if d <= 0 {
			return ""
		}
		return "d" + strconv.Itoa(min(d, 5))
	},
	"encoding": func(e string) string {
		if e == "" || e == "identity" {
			return "none"
		}
		return e
	},
	"more": func(pages []Page, limit int) int { return max(0, len(pages)-limit) },
	"firstN": func(pages []Page, limit int) []Page {
		return pages[:min(limit, len(pages))]
	},
}

// humanBytes writes a size in SI units: 999 B, 12.3 kB, 4.5 MB.
func humanBytes(n int64) string {
	if n < 1000 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v := float64(n)
	for _, u := range []string{"kB", "MB", "GB", "TB"} {
		v /= 1000
		if v < 999.95 || u == "TB" {
			return strconv.FormatFloat(v, 'f', 1, 64) + " " + u
		}
	}
	return ""
}

// groupDigits writes 1234567 as 1,234,567.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

const headTmpl = `{{define "head"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}}</title>
<style>{{.Style}}</style>
</head>
{{end}}`

var catalogTmpl = template.Must(template.New("index.html").Funcs(funcs).Parse(headTmpl + `{{template "head" .Head}}<body>
<header>
<h1>Feeds</h1>
<p class="muted">Public JSON feeds published by sqlfeed. Each has a page with its fields, a preview and how to fetch it.
Machine-readable catalog: <a href="index.json">index.json</a>.</p>
</header>
<main>
<ul class="cards">
{{- range .Feeds}}
<li class="feed" id="feed-{{.Name}}">
<h2><a href="{{.Name}}/index.html">{{.Name}}</a></h2>
{{- if .Description}}
<p class="desc">{{.Description}}</p>
{{- end}}
<dl>
<dt>Last update</dt><dd><span class="when" data-time="{{rfc3339 .GeneratedAt}}" data-interval="{{.Interval}}"><time datetime="{{rfc3339 .GeneratedAt}}">{{utc .GeneratedAt}}</time><span class="ago"></span><span class="mark"></span></span></dd>
{{- if .Schedule}}
<dt>Schedule</dt><dd><code>{{.Schedule}}</code></dd>
{{- end}}
<dt>Documents</dt><dd>{{count .Rows}}</dd>
<dt>Size</dt><dd>{{size .Bytes}}{{if eq (encoding .ContentEncoding) "gzip"}} (gzip on the wire){{end}}</dd>
<dt>Layout</dt><dd>{{if .Paged}}paged: {{.PageCount}} pages; latest.json is the page index{{else}}one {{upper .Format}} document{{end}}</dd>
<dt>Files</dt><dd><a href="{{.Name}}/latest.json">latest.json</a> · <a href="{{.Name}}/schema.json">schema.json</a> · <a href="{{.Name}}/manifest.json">manifest.json</a></dd>
</dl>
</li>
{{- else}}
<li>No feed is published yet.</li>
{{- end}}
</ul>
</main>
<footer>"Last update" is when the current content was published; a run that finds the content unchanged does not change it (the manifest's <code>checked_at</code> says when a feed was last confirmed).</footer>
<script>{{.Head.Script}}</script>
</body>
</html>
`))

var feedTmpl = template.Must(template.New("feed.html").Funcs(funcs).Parse(headTmpl + `{{template "head" .Head}}<body>
<header>
<p><a href="../index.html">← All feeds</a></p>
<h1>{{.Feed.Name}}</h1>
{{- if .Feed.Description}}
<p class="desc">{{.Feed.Description}}</p>
{{- end}}
</header>
<main>
<section aria-labelledby="about">
<h2 id="about">About</h2>
<dl>
<dt>Last update</dt><dd><span class="when" data-time="{{rfc3339 .Feed.GeneratedAt}}" data-interval="{{.Interval}}"><time datetime="{{rfc3339 .Feed.GeneratedAt}}">{{utc .Feed.GeneratedAt}}</time><span class="ago"></span><span class="mark"></span></span></dd>
<dt>Schedule</dt><dd>{{if .Feed.Schedule}}<code>{{.Feed.Schedule}}</code>{{else}}none (run on demand){{end}}</dd>
<dt>Documents</dt><dd>{{count .Feed.Rows}}</dd>
<dt>Size</dt><dd>{{size .Feed.Bytes}} uncompressed{{if eq (encoding .Feed.ContentEncoding) "gzip"}}, sent with gzip{{end}}</dd>
<dt>Format</dt><dd>{{if .Feed.Paged}}paged ({{.Feed.PageCount}} pages of {{.Feed.Format}}){{else if eq .Feed.Format "ndjson"}}NDJSON, one document a line{{else}}JSON, one array of documents{{end}}</dd>
<dt>Version</dt><dd><code>{{.Feed.Version}}</code></dd>
<dt>sha256</dt><dd><code>{{.Feed.SHA256}}</code></dd>
<dt>Files</dt><dd><a href="latest.json">latest.json</a> · <a href="schema.json">schema.json</a> · <a href="manifest.json">manifest.json</a></dd>
</dl>
</section>

<section aria-labelledby="fields">
<h2 id="fields">Fields</h2>
{{- if .Fields}}
<div class="scroll"><table id="fields-table">
<caption>Keys of one document, from <a href="schema.json">schema.json</a>; nested keys are indented.</caption>
<thead><tr><th scope="col">Key</th><th scope="col">Type</th><th scope="col">Nullable</th><th scope="col">Always present</th></tr></thead>
<tbody>
{{- range .Fields}}
<tr><th scope="row"{{with depth .Depth}} class="{{.}}"{{end}}><code>{{.Path}}</code></th><td>{{.Type}}{{if .Format}} <span class="muted">({{.Format}})</span>{{end}}</td><td>{{if .Nullable}}yes{{else}}no{{end}}</td><td>{{if .Optional}}no{{else}}yes{{end}}</td></tr>
{{- end}}
</tbody>
</table></div>
{{- else}}
<p>The schema names no keys: a document may be any JSON value (see <a href="schema.json">schema.json</a>).</p>
{{- end}}
</section>

<section aria-labelledby="preview">
<h2 id="preview">Preview</h2>
{{- if .Preview}}
<div class="scroll"><table id="preview-table">
<caption>The first {{len .Preview.Docs}} of {{count .Feed.Rows}} documents{{if .Preview.Truncated}} (cut: the first document alone is larger than the preview){{end}}.</caption>
<thead><tr>{{range .Table.Columns}}<th scope="col">{{.}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Table.Rows}}
<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table></div>
<details>
<summary>As JSON</summary>
<pre id="preview-json"><code>{{.JSON}}</code></pre>
</details>
<script type="application/json" id="sqlfeed-preview">{{.Data}}</script>
{{- else}}
<p>No preview yet: it is taken while a new version is exported, and appears with the next published version.</p>
{{- end}}
</section>
{{- if .PageStats}}

<section aria-labelledby="pages">
<h2 id="pages">Pages</h2>
<p>{{.PageStats.Count}} pages; <a href="latest.json">latest.json</a> is the page index: find the page whose key range holds a key, then fetch its <code>url</code> relative to latest.json.</p>
<div class="scroll"><table id="page-sizes">
<caption>Size distribution</caption>
<thead><tr><th scope="col"></th><th scope="col" class="num">Smallest</th><th scope="col" class="num">Median</th><th scope="col" class="num">Largest</th></tr></thead>
<tbody>
<tr><th scope="row">Size</th><td class="num">{{size .PageStats.MinBytes}}</td><td class="num">{{size .PageStats.MedianBytes}}</td><td class="num">{{size .PageStats.MaxBytes}}</td></tr>
<tr><th scope="row">Documents</th><td class="num">{{count .PageStats.MinRows}}</td><td class="num">{{count .PageStats.MedianRows}}</td><td class="num">{{count .PageStats.MaxRows}}</td></tr>
</tbody>
</table></div>
<div class="scroll"><table id="page-ranges">
<caption>Key ranges{{with more .Pages .PageLimit}} (the first {{$.PageLimit}}; {{.}} more in the page index){{end}}</caption>
<thead><tr><th scope="col">Page</th><th scope="col">First key</th><th scope="col">Last key</th><th scope="col" class="num">Documents</th><th scope="col" class="num">Size</th></tr></thead>
<tbody>
{{- range firstN .Pages .PageLimit}}
<tr><th scope="row"><a href="{{.URL}}">{{short .SHA256}}</a></th><td><code>{{.First}}</code></td><td><code>{{.Last}}</code></td><td class="num">{{count .Rows}}</td><td class="num">{{size .Bytes}}</td></tr>
{{- end}}
</tbody>
</table></div>
</section>
{{- end}}

<section aria-labelledby="fetch">
<h2 id="fetch">Fetch it</h2>
{{- range .Snippets}}
<h3>{{.Label}}</h3>
<pre><code class="language-{{.Lang}}">{{.Code}}</code></pre>
{{- end}}
</section>

<section aria-labelledby="history">
<h2 id="history">Version history</h2>
<div class="scroll"><table id="versions-table">
<caption>Kept versions, newest first; each stays at its URL unchanged until retention removes it.</caption>
<thead><tr><th scope="col">Published (UTC)</th><th scope="col" class="num">Documents</th><th scope="col" class="num">Size</th><th scope="col">sha256</th><th scope="col">Version</th></tr></thead>
<tbody>
{{- range .Versions}}
<tr><th scope="row"><time datetime="{{rfc3339 .GeneratedAt}}">{{utc .GeneratedAt}}</time></th><td class="num">{{count .Rows}}</td><td class="num">{{size .Bytes}}</td><td><code title="{{.SHA256}}">{{short .SHA256}}</code></td><td><a href="versions/{{.Version}}.json"><code>{{.Version}}</code></a></td></tr>
{{- end}}
</tbody>
</table></div>
</section>
</main>
<footer>"Last update" is when the current content was published; a run that finds the content unchanged does not change it (<a href="manifest.json">manifest.json</a>'s <code>checked_at</code> says when it was last confirmed).</footer>
<script>{{.Head.Script}}</script>
</body>
</html>
`))
