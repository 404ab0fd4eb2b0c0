package exporters

import (
	"context"
	"fmt"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/sqlfeed/sqlfeed/exporters/encode"
	"github.com/sqlfeed/sqlfeed/exporters/paging"
	"github.com/sqlfeed/sqlfeed/exporters/site"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/transform"
)

// Paged feeds (CONTRACT §3 "Paged feeds", §5): the documents go into pages
// cut by exporters/paging, each stored under pages/ unless the run's one
// listing found it; the page index then is the version object, published by
// the same path as a document (publish), with the page refresh and
// confirmation of §5 "Page retention" just before the manifest write.

// pageUploads bounds the page uploads in flight (memory: that many pages, plus
// the one being built).
const pageUploads = 2

// pagedStream closes the last page and waits for the uploads.
type pagedStream struct {
	b *paging.Builder
	w *paging.Writer
}

func (p pagedStream) Rows() int64  { return p.b.Rows() }
func (p pagedStream) Bytes() int64 { return p.b.Bytes() }
func (p pagedStream) Close() error {
	if err := p.b.Close(); err != nil {
		return err
	}
	return p.w.Wait()
}

// exportPaged streams the query's documents into pages, then publishes their
// index as version d.
func (r *Runner) exportPaged(ctx context.Context, st state, cur *db.Cursor, mapper transform.Mapper, schema transform.Schema,
	env *transform.Env, d document, force bool) (res Result, err error) {
	f, pg := d.feed, d.feed.Pages
	field, err := PageKeyField(f, cur.Columns(), schema)
	if err != nil {
		return res, err
	}
	contentType, contentEncoding := encode.ContentType(f.Format), encode.ContentEncoding(f.Compress)
	listedAt := r.now()
	w, err := paging.NewWriter(ctx, r.Store, f.Name,
		blob.Meta{ContentType: contentType, ContentEncoding: contentEncoding, CacheControl: cacheImmutable},
		pg.Grace, pageUploads, listedAt)
	if err != nil {
		return res, err
	}
	b, err := paging.NewBuilder(paging.Options{Rows: pg.Rows, MaxBytes: pg.MaxBytes, Format: f.Format, Compress: f.Compress},
		paging.FieldKey(field), w.Add)
	if err != nil {
		return res, err
	}
	out := pagedStream{b: b, w: w}
	preview := &site.Capture{}
	if err := r.stream(ctx, f.Name, cur, mapper, out, previewSink{next: b, capture: preview}); err != nil {
		w.Wait() // the pages stored are named by nothing: a later sweep removes them
		res.Rows = b.Rows()
		return res, err
	}
	if err := cur.Close(); err != nil {
		return res, fmt.Errorf("end query: %w", err)
	}
	idx := r.pageIndex(&d, w.Entries(), b.Rows(), b.Bytes())
	res.Rows, res.Bytes, res.SHA256, res.Warnings = idx.Rows, idx.Bytes, idx.SHA256, env.Warnings
	r.logWarnings(f.Name, env)
	r.log().Debug("pages", "feed", f.Name, "pages", len(idx.Pages), "uploaded", w.Uploaded())
	if err := r.step(f.Name, stepPages); err != nil {
		return res, err
	}
	up, err := r.uploadIndex(ctx, idx)
	if err != nil {
		return res, err
	}
	defer abortUnlessKilled(ctx, up, &err)
	d.beforeManifest = func(ctx context.Context) error { return r.holdPages(ctx, f, w) }
	return r.finish(ctx, up, st, d, preview, res, force)
}

// pageIndex is the page index of version d over entries (the pages in key
// order; rows and size their totals), and fills in d to publish it.
func (r *Runner) pageIndex(d *document, entries []paging.Entry, rows, size int64) paging.Index {
	if entries == nil {
		entries = []paging.Entry{}
	}
	f := d.feed
	contentType, contentEncoding := encode.ContentType(f.Format), encode.ContentEncoding(f.Compress)
	idx := paging.Index{Feed: f.Name, Version: d.version, GeneratedAt: r.now().UTC().Truncate(time.Second),
		Rows: rows, Bytes: size, SHA256: paging.Digest(entries), ContentType: contentType,
		ContentEncoding: encodingName(contentEncoding), Pages: entries}
	d.rows, d.bytes, d.sha256 = idx.Rows, idx.Bytes, idx.SHA256
	d.contentType, d.contentEncoding = contentType, contentEncoding
	d.paged, d.pages = true, len(entries)
	return idx
}

// uploadIndex writes idx to its version's key, conditional on the key being
// free; the caller publishes (commits) or aborts the upload.
func (r *Runner) uploadIndex(ctx context.Context, idx paging.Index) (blob.Upload, error) {
	body, err := marshal(idx)
	if err != nil {
		return nil, err
	}
	up, err := r.Store.NewUpload(ctx, versionKey(idx.Feed, idx.Version), blob.WriteOptions{
		Meta: versionMeta(idx.Version, "application/json", ""), IfNoneMatch: true})
	if err != nil {
		return nil, fmt.Errorf("start upload: %w", err)
	}
	if _, err := up.Write(body); err != nil {
		up.Abort(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("write page index: %w", err)
	}
	return up, nil
}

// holdPages makes sure the pages a run names survive until its manifest
// names them (CONTRACT §5 "Page retention"): stored pages last written more
// than grace/2 before the listing are refreshed; at least w later they are
// confirmed. Pages the listing found younger cannot be swept before
// listing + grace/2, so the run must reach its manifest write by then.
func (r *Runner) holdPages(ctx context.Context, f *config.Feed, w *paging.Writer) error {
	grace := f.Pages.Grace
	keys, err := w.Refresh(ctx)
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		refreshed := r.now()
		if err := r.step(f.Name, stepRefresh); err != nil {
			return err
		}
		if wait := refreshed.Add(paging.Window(grace)).Sub(r.now()); wait > 0 {
			if err := r.wait(ctx, wait); err != nil {
				return err
			}
		}
		if err := paging.Confirm(ctx, r.Store, keys); err != nil {
			return err
		}
	}
	if took := r.now().Sub(w.ListedAt()); took >= grace/2 {
		return fmt.Errorf("%s: %s passed since this run listed its pages, more than half of pages.grace (%s): a sweep may have removed pages it names; raise pages.grace",
			f.Pos, took.Round(time.Second), grace)
	}
	return nil
}

// wait sleeps for d, or until ctx ends.
func (r *Runner) wait(ctx context.Context, d time.Duration) error {
	if r.sleep != nil {
		return r.sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sweepPages deletes the feed's pages that no kept version names, once older
// than pages.grace (paging.Sweep). It reads the manifest and the kept page
// indexes after each listing.
func (r *Runner) sweepPages(ctx context.Context, f *config.Feed) error {
	named := func(ctx context.Context) (map[string]bool, error) {
		m, _, err := readManifest(ctx, r.Store, f.Name)
		if err != nil {
			return nil, err
		}
		if m == nil {
			return nil, fmt.Errorf("%s is gone: nothing to sweep against", manifestKey(f.Name))
		}
		keys := map[string]bool{}
		for _, v := range m.Versions {
			if !v.Paged {
				continue
			}
			idx, err := readIndex(ctx, r.Store, v.Key)
			if err != nil {
				return nil, err
			}
			for _, p := range idx.Pages {
				keys[f.Name+"/"+p.URL] = true
			}
		}
		return keys, nil
	}
	n, err := paging.Sweep(ctx, r.Store, f.Name, f.Pages.Grace, r.now, named, func() error { return r.step(f.Name, stepSwept) })
	if n > 0 {
		r.log().Info("retention: pages", "feed", f.Name, "deleted", n)
	}
	return err
}

// readIndex reads a page index (a paged feed's version object).
func readIndex(ctx context.Context, s blob.Store, key string) (*paging.Index, error) {
	b, _, err := blob.ReadAll(ctx, s, key)
	if err != nil {
		return nil, fmt.Errorf("read page index %s: %w", key, err)
	}
	var idx paging.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("read page index %s: %w", key, err)
	}
	return &idx, nil
}

// PageKeyField returns the top-level document field that publishes the
// feed's pages.by column (cols: the query's columns; schema: the bound
// mapper's document schema): a top-level field naming that column, the
// column itself for mapper raw (or a Go mapper that publishes it under its
// name). For mapper group, pages.by must be the group key.
func PageKeyField(f *config.Feed, cols []transform.Column, schema transform.Schema) (string, error) {
	by := f.Pages.By
	bad := func(msg string, args ...any) error {
		return &config.Error{Pos: f.Pages.Pos, Msg: fmt.Sprintf("feed %q: pages.by %q ", f.Name, by) + fmt.Sprintf(msg, args...)}
	}
	col := transform.ColumnIndex(cols, by)
	if col < 0 {
		names := make([]string, len(cols))
		for i, c := range cols {
			names[i] = c.Name
		}
		return "", bad("names no column of the query (columns: %s)", strings.Join(names, ", "))
	}
	if f.Group != nil && transform.ColumnIndex(cols, f.Group.By) != col {
		return "", bad("must be the group key %q: pages end only between documents", f.Group.By)
	}
	for _, fs := range f.Fields {
		if !strings.Contains(fs.Key, ".") && !fs.OmitNull && transform.ColumnIndex(cols, fs.Column) == col {
			return fs.Key, nil
		}
	}
	if props, ok := schema["properties"].(map[string]any); ok && len(f.Fields) == 0 {
		if _, ok := props[cols[col].Name]; ok {
			return cols[col].Name, nil
		}
	}
	return "", bad("is not published by the mapper as a top-level field of every document")
}
