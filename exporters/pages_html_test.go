package exporters

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters/paging"
	"github.com/sqlfeed/sqlfeed/exporters/site"
	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// TestPagesPublished checks the pages of the demo feeds: both kinds exist
// with their metadata, stay under 100 KB, the preview is the feed's first
// documents exactly, and a run with unchanged content rewrites no page while
// a description change rewrites the feed's page with its preview kept.
func TestPagesPublished(t *testing.T) {
	cfg := sampleConfig(t)
	store, _ := fileStore(t)
	clock := t0
	r := &Runner{Config: cfg, DB: openDB(t, chinookDSN), Store: store, Now: func() time.Time { return clock }}
	runFeeds(t, r, t0)
	ctx := context.Background()
	keys := []string{"index.html"}
	for _, f := range cfg.Feeds {
		keys = append(keys, feedPageKey(f.Name))
	}
	before := map[string]blob.Attrs{}
	for _, key := range keys {
		a, err := store.Head(ctx, key)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if a.ContentType != "text/html; charset=utf-8" || a.CacheControl != "public, max-age=60" || a.ContentEncoding != "" {
			t.Fatalf("%s metadata %+v", key, a.Meta)
		}
		if a.Size >= 100_000 {
			t.Fatalf("%s is %d bytes, want < 100 KB", key, a.Size)
		}
		before[key] = a
	}
	for _, f := range cfg.Feeds {
		page := readDoc(t, store, feedPageKey(f.Name))
		p := site.ParsePreview(page)
		if p == nil || p.SHA256 != manifestOf(t, store, f.Name).SHA256 {
			t.Fatalf("%s: preview %+v", f.Name, p)
		}
		var first []string
		doc := readDoc(t, store, latestKey(f.Name))
		if f.Pages != nil {
			var idx *paging.Index
			doc, idx = pagedDoc(t, store, f.Name)
			ranges := fmt.Sprintf(`<a href="%s">%s</a></th><td><code>%s</code></td><td><code>%s</code></td>`,
				idx.Pages[0].URL, idx.Pages[0].SHA256[:12], idx.Pages[0].First, idx.Pages[0].Last)
			if !bytes.Contains(page, []byte(ranges)) || !bytes.Contains(page, []byte(fmt.Sprintf("%d pages; ", len(idx.Pages)))) {
				t.Fatalf("%s: the feed page does not show its pages (want %s)", f.Name, ranges)
			}
			if cat := readDoc(t, store, "index.html"); !bytes.Contains(cat, []byte(fmt.Sprintf("paged: %d pages", len(idx.Pages)))) {
				t.Fatalf("the catalog does not mark %s as paged", f.Name)
			}
		}
		eachDoc(t, bytes.NewReader(doc), f.Format, func(raw json.RawMessage) {
			if len(first) < len(p.Docs) {
				first = append(first, string(raw))
			}
		})
		if len(p.Docs) == 0 || len(p.Docs) > site.PreviewDocs || strings.Join(p.Docs, "\n") != strings.Join(first, "\n") {
			t.Fatalf("%s: preview is not the first documents:\n%q\nwant\n%q", f.Name, p.Docs, first)
		}
		if f.Name == "tracks" && len(p.Docs) != site.PreviewDocs {
			t.Fatalf("tracks: %d documents previewed, want %d", len(p.Docs), site.PreviewDocs)
		}
	}

	// Unchanged content, an hour later: no page is written.
	clock = t0.Add(time.Hour)
	for _, res := range runFeeds(t, r, t0.Add(time.Hour)) {
		if res.Status != StatusUnchanged {
			t.Fatalf("second run: %+v", res)
		}
	}
	for _, key := range keys {
		a, _ := store.Head(ctx, key)
		if a.ETag != before[key].ETag || !a.ModTime.Equal(before[key].ModTime) {
			t.Fatalf("%s rewritten by an unchanged run: %s %v → %s %v", key, before[key].ETag, before[key].ModTime, a.ETag, a.ModTime)
		}
	}

	// A new description: the feed's page and the catalog change, the preview
	// (from the stored page: this run's documents are the same) stays.
	oldPage := readDoc(t, store, feedPageKey("genres"))
	cfg.Feed("genres").Description = "Genres & their track counts"
	runFeeds(t, r, t0.Add(2*time.Hour), "genres")
	page := readDoc(t, store, feedPageKey("genres"))
	if bytes.Equal(page, oldPage) || !bytes.Contains(page, []byte("Genres &amp; their track counts")) {
		t.Fatal("genres page not rewritten with its new description")
	}
	if p, q := site.ParsePreview(oldPage), site.ParsePreview(page); p == nil || q == nil || strings.Join(p.Docs, ",") != strings.Join(q.Docs, ",") {
		t.Fatal("preview lost on an unchanged run")
	}
	if a, _ := store.Head(ctx, feedPageKey("tracks")); a.ETag != before[feedPageKey("tracks")].ETag {
		t.Fatal("tracks page rewritten by a run of genres")
	}
	if !bytes.Contains(readDoc(t, store, "index.html"), []byte("Genres &amp; their track counts")) {
		t.Fatal("catalog does not show the new description")
	}

	// public_url: snippets show absolute URLs.
	cfg.PublicURL = "https://feeds.example.com/v1/"
	runFeeds(t, r, t0.Add(3*time.Hour), "genres")
	if page := readDoc(t, store, feedPageKey("genres")); !bytes.Contains(page, []byte("https://feeds.example.com/v1/genres/latest.json")) {
		t.Fatal("feed page lacks the absolute URL")
	}
}

// TestPagePreviewOfOtherVersion: a run whose document is not the current
// version (it lost to a newer run) must not show its own preview.
func TestPagePreviewOfOtherVersion(t *testing.T) {
	cfg := sampleConfig(t)
	store, _ := fileStore(t)
	r := &Runner{Config: cfg, DB: openDB(t, chinookDSN), Store: store}
	runFeeds(t, r, t0, "genres")
	f := cfg.Feed("genres")
	m := manifestOf(t, store, "genres")
	ctx := context.Background()
	err := r.writeFeedPage(ctx, f, &site.Preview{SHA256: strings.Repeat("0", 64), Docs: []string{`{"id":"not current"}`}})
	if err != nil {
		t.Fatal(err)
	}
	page := readDoc(t, store, feedPageKey("genres"))
	if bytes.Contains(page, []byte("not current")) {
		t.Fatal("page shows the preview of a version that is not current")
	}
	if p := site.ParsePreview(page); p == nil || p.SHA256 != m.SHA256 {
		t.Fatalf("stored preview of the current version lost: %+v", p)
	}
	// With no stored page either, the page says there is no preview yet.
	if err := store.Delete(ctx, feedPageKey("genres")); err != nil {
		t.Fatal(err)
	}
	if err := r.writeFeedPage(ctx, f, nil); err != nil {
		t.Fatal(err)
	}
	if page := readDoc(t, store, feedPageKey("genres")); !bytes.Contains(page, []byte("No preview yet")) || site.ParsePreview(page) != nil {
		t.Fatal("page without a preview does not say so")
	}
}
