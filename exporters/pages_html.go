package exporters

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	json "github.com/goccy/go-json"

	"github.com/sqlfeed/sqlfeed/exporters/site"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/transform"
)

// The pages for people (CONTRACT §5): <prefix>/index.html and
// <prefix>/<feed>/index.html, rendered by exporters/site.
//
// A feed page shows a preview of the feed's first documents, taken while
// exporting (previewSink), never by reading the published document back. The
// page also embeds that preview as JSON with the sha256 of the version it came
// from, so a later run whose content is unchanged (and which therefore has the
// same documents, or none at all when it lost to another run) renders the page
// again from the stored one: the page stays byte-identical and is not written.
// A page with no preview for the current version (a feed published before the
// pages existed, with unchanged content since) shows none until the next
// published version.

const htmlContentType = "text/html; charset=utf-8"

// feedPageKey is the key of a feed's page.
func feedPageKey(feed string) string { return feed + "/index.html" }

// previewSink passes documents on to the encoder and offers each to the
// preview capture on the way.
type previewSink struct {
	next    transform.Sink
	capture *site.Capture
}

// WriteDoc records doc in the preview (the capture copies what it keeps) and
// writes it on.
func (p previewSink) WriteDoc(doc []byte) error {
	p.capture.Add(doc)
	return p.next.WriteDoc(doc)
}

// writeFeedPage renders the feed's page from its current manifest and schema
// and writes it when its bytes change. own is the preview this run captured
// (for the document with digest own.SHA256), used when that document is the
// current version.
func (r *Runner) writeFeedPage(ctx context.Context, f *config.Feed, own *site.Preview) error {
	m, _, err := readManifest(ctx, r.Store, f.Name)
	if err != nil || m == nil {
		return err
	}
	key := feedPageKey(f.Name)
	old, _, err := blob.ReadAll(ctx, r.Store, key)
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("read %s: %w", key, err)
	}
	preview := own
	if preview == nil || preview.SHA256 != m.SHA256 {
		preview = site.ParsePreview(old)
		if preview != nil && preview.SHA256 != m.SHA256 {
			preview = nil
		}
	}
	var schema map[string]any
	b, _, err := blob.ReadAll(ctx, r.Store, schemaKey(f.Name))
	switch {
	case errors.Is(err, blob.ErrNotFound):
	case err != nil:
		return fmt.Errorf("read %s: %w", schemaKey(f.Name), err)
	default:
		if err := json.Unmarshal(b, &schema); err != nil {
			return fmt.Errorf("read %s: %w", schemaKey(f.Name), err)
		}
	}
	page := site.FeedPage{Feed: siteFeed(f, m), PublicURL: r.Config.PublicURL, Schema: schema, Preview: preview}
	for _, v := range m.Versions {
		page.Versions = append(page.Versions, site.Version{Version: v.Version, GeneratedAt: v.GeneratedAt,
			Rows: v.Rows, Bytes: v.Bytes, SHA256: v.SHA256, ContentEncoding: v.ContentEncoding})
	}
	if m.Paged {
		idx, err := readIndex(ctx, r.Store, m.current().Key)
		if err != nil {
			return err
		}
		for _, p := range idx.Pages {
			page.Pages = append(page.Pages, site.Page{URL: p.URL, Rows: p.Rows, Bytes: p.Bytes, SHA256: p.SHA256,
				First: string(p.First), Last: string(p.Last)})
		}
	}
	html, err := site.FeedPageHTML(page)
	if err != nil {
		return err
	}
	return r.putHTML(ctx, key, old, html)
}

// siteFeed is what the pages show of a feed: its config and current version.
func siteFeed(f *config.Feed, m *Manifest) site.Feed {
	return site.Feed{Name: f.Name, Description: f.Description, Schedule: f.Schedule, Format: f.Format,
		ContentEncoding: m.ContentEncoding, Version: m.Version, GeneratedAt: m.GeneratedAt, Rows: m.Rows,
		Bytes: m.Bytes, SHA256: m.SHA256, Paged: m.Paged, PageCount: m.Pages}
}

// catalogHTML renders index.html from the catalog.
func (r *Runner) catalogHTML(c Catalog) ([]byte, error) {
	sc := site.Catalog{PublicURL: r.Config.PublicURL}
	for _, cf := range c.Feeds {
		sc.Feeds = append(sc.Feeds, site.Feed{Name: cf.Name, Description: cf.Description, Schedule: cf.Schedule,
			Format: cf.Format, ContentEncoding: cf.ContentEncoding, Version: cf.Version, GeneratedAt: cf.GeneratedAt,
			Rows: cf.Rows, Bytes: cf.Bytes, SHA256: cf.SHA256, Paged: cf.Paged, PageCount: cf.Pages})
	}
	return site.CatalogHTML(sc)
}

// putHTML writes a page unless the store already holds these bytes (old: what
// it holds, nil when nothing).
func (r *Runner) putHTML(ctx context.Context, key string, old, page []byte) error {
	if old != nil && bytes.Equal(old, page) {
		return nil
	}
	opt := blob.WriteOptions{Meta: blob.Meta{ContentType: htmlContentType, CacheControl: cacheShort}}
	if _, err := r.Store.Put(ctx, key, bytes.NewReader(page), opt); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}
