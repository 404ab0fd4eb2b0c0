package exporters

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// Catalog is index.json: every published feed with its latest version.
type Catalog struct {
	Feeds []CatalogFeed `json:"feeds"`
}

// CatalogFeed is one feed of the catalog; keys are relative to the prefix.
type CatalogFeed struct {
	Name            string    `json:"name"`
	Description     string    `json:"description,omitempty"`
	Schedule        string    `json:"schedule,omitempty"`
	Format          string    `json:"format"`
	Version         string    `json:"version"`
	GeneratedAt     time.Time `json:"generated_at"`
	Rows            int64     `json:"rows"`
	Bytes           int64     `json:"bytes"`
	SHA256          string    `json:"sha256"`
	ContentType     string    `json:"content_type"`
	ContentEncoding string    `json:"content_encoding"`
	Paged           bool      `json:"paged,omitempty"` // latest.json is a page index
	Pages           int       `json:"pages,omitempty"` // paged: the current version's page count
	URLs            struct {
		Latest   string `json:"latest"`
		Manifest string `json:"manifest"`
		Schema   string `json:"schema"`
		Version  string `json:"version"`
	} `json:"urls"`
}

// writeCatalog rewrites index.json and index.html from the feeds' manifests,
// when their bytes change (so a run that publishes nothing writes nothing).
// index.json is written conditionally on the ETag read before the manifests:
// when two runs finish together, the one that writes last has read every
// manifest the other had, so no feed's entry goes backwards.
func (r *Runner) writeCatalog(ctx context.Context) error {
	var c Catalog
	for attempt := 1; ; attempt++ {
		old, a, err := blob.ReadAll(ctx, r.Store, "index.json")
		exists := err == nil
		if err != nil && !errors.Is(err, blob.ErrNotFound) {
			return fmt.Errorf("read index.json: %w", err)
		}
		if c, err = r.catalog(ctx); err != nil || len(c.Feeds) == 0 {
			return err // nothing published yet: no catalog
		}
		b, err := marshal(c)
		if err != nil {
			return err
		}
		if exists && bytes.Equal(old, b) {
			break
		}
		if err := r.step("", stepCatalog); err != nil {
			return err
		}
		opt := blob.WriteOptions{Meta: blob.Meta{ContentType: "application/json", CacheControl: cacheShort}}
		if exists {
			opt.IfMatch = a.ETag
		} else {
			opt.IfNoneMatch = true
		}
		_, err = r.Store.Put(ctx, "index.json", bytes.NewReader(b), opt)
		if err == nil {
			break
		}
		if !errors.Is(err, blob.ErrPrecondition) || attempt == maxAttempts {
			return fmt.Errorf("write index.json: %w", err)
		}
	}
	page, err := r.catalogHTML(c)
	if err != nil {
		return fmt.Errorf("render index.html: %w", err)
	}
	old, _, err := blob.ReadAll(ctx, r.Store, "index.html")
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("read index.html: %w", err)
	}
	return r.putHTML(ctx, "index.html", old, page)
}

// catalog builds index.json's content from the manifests of the config's feeds.
func (r *Runner) catalog(ctx context.Context) (Catalog, error) {
	c := Catalog{Feeds: []CatalogFeed{}}
	for _, f := range r.Config.Feeds {
		m, _, err := readManifest(ctx, r.Store, f.Name)
		if err != nil {
			return c, err
		}
		if m == nil {
			continue
		}
		cf := CatalogFeed{Name: f.Name, Description: f.Description, Schedule: f.Schedule, Format: f.Format,
			Version: m.Version, GeneratedAt: m.GeneratedAt, Rows: m.Rows, Bytes: m.Bytes, SHA256: m.SHA256,
			ContentType: m.ContentType, ContentEncoding: m.ContentEncoding, Paged: m.Paged, Pages: m.Pages}
		cf.URLs.Latest, cf.URLs.Manifest = latestKey(f.Name), manifestKey(f.Name)
		cf.URLs.Schema, cf.URLs.Version = schemaKey(f.Name), versionKey(f.Name, m.Version)
		c.Feeds = append(c.Feeds, cf)
	}
	return c, nil
}
