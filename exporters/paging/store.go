package paging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// Index is a paged feed's latest.json and versions/<version>.json (CONTRACT §5).
type Index struct {
	Feed            string    `json:"feed"`
	Version         string    `json:"version"`
	GeneratedAt     time.Time `json:"generated_at"`
	Rows            int64     `json:"rows"`
	Bytes           int64     `json:"bytes"`
	SHA256          string    `json:"sha256"`
	ContentType     string    `json:"content_type"`     // of the pages
	ContentEncoding string    `json:"content_encoding"` // of the pages: gzip or identity
	Pages           []Entry   `json:"pages"`
}

// Entry is one page of an Index.
type Entry struct {
	URL    string          `json:"url"` // pages/<name>.json, relative to the feed's folder
	Rows   int64           `json:"rows"`
	Bytes  int64           `json:"bytes"`
	SHA256 string          `json:"sha256"`
	First  json.RawMessage `json:"first"`
	Last   json.RawMessage `json:"last"`
}

// EntryOf is the index entry of p.
func EntryOf(p *Page) Entry {
	return Entry{URL: p.URL(), Rows: p.Rows, Bytes: p.Bytes, SHA256: p.SHA256, First: p.First, Last: p.Last}
}

// Dir returns the folder of a feed's pages.
func Dir(feed string) string { return feed + "/pages/" }

// Window is w of CONTRACT §5: how long after its listing a sweep may delete,
// and how long a run waits after refreshing pages before confirming them.
func Window(grace time.Duration) time.Duration { return min(time.Minute, grace/4) }

// Writer stores the pages of one run: a page the run's one listing found is
// not uploaded again (those last written more than grace/2 ago are noted for
// Refresh), the others are uploaded with at most InFlight at once.
type Writer struct {
	ctx      context.Context // bounds the uploads
	store    blob.Store
	feed     string
	meta     blob.Meta
	stored   map[string]time.Time // key → last written, from the listing
	listedAt time.Time
	grace    time.Duration
	slots    chan struct{}
	wg       sync.WaitGroup

	mu       sync.Mutex
	err      error
	entries  []Entry
	stale    []staleRef
	uploaded int
}

type staleRef struct {
	key  string
	meta blob.Meta
}

// NewWriter lists the feed's pages once (at now) and returns a Writer whose
// pages get meta (Content-Type, Content-Encoding, Cache-Control) plus their
// own sha256 and rows; ctx bounds its uploads.
func NewWriter(ctx context.Context, s blob.Store, feed string, meta blob.Meta, grace time.Duration, inFlight int, now time.Time) (*Writer, error) {
	objs, err := s.List(ctx, Dir(feed))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", Dir(feed), err)
	}
	w := &Writer{ctx: ctx, store: s, feed: feed, meta: meta, stored: map[string]time.Time{}, listedAt: now, grace: grace,
		slots: make(chan struct{}, max(1, inFlight))}
	for _, o := range objs {
		w.stored[o.Key] = o.ModTime
	}
	return w, nil
}

// Add stores p unless the listing found it (Builder's emit). It blocks while
// InFlight uploads run; an upload error is returned by a later Add or Wait.
func (w *Writer) Add(p *Page) error {
	if err := w.failed(); err != nil {
		return err
	}
	key := p.Key(w.feed)
	meta := w.meta
	meta.User = map[string]string{"sha256": p.SHA256, "rows": strconv.FormatInt(p.Rows, 10)}
	w.mu.Lock()
	w.entries = append(w.entries, EntryOf(p))
	w.mu.Unlock()
	if t, ok := w.stored[key]; ok {
		if w.listedAt.Sub(t) > w.grace/2 {
			w.mu.Lock()
			w.stale = append(w.stale, staleRef{key: key, meta: meta})
			w.mu.Unlock()
		}
		Recycle(p)
		return nil
	}
	w.stored[key] = w.listedAt // a repeated page in this run is stored once
	w.slots <- struct{}{}
	w.wg.Add(1)
	go func() {
		defer func() { <-w.slots; w.wg.Done() }()
		_, err := w.store.Put(w.ctx, key, bytes.NewBuffer(p.Body), blob.WriteOptions{Meta: meta})
		Recycle(p) // Put has returned: the store holds no reference to the body
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil && w.err == nil {
			w.err = fmt.Errorf("upload %s: %w", key, err)
		}
		if err == nil {
			w.uploaded++
		}
	}()
	return nil
}

func (w *Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Wait waits for the uploads in flight and returns the first error.
func (w *Writer) Wait() error {
	w.wg.Wait()
	return w.failed()
}

// Entries returns the index entries of the pages added, in order.
func (w *Writer) Entries() []Entry { return w.entries }

// Uploaded returns how many pages were uploaded.
func (w *Writer) Uploaded() int { return w.uploaded }

// ListedAt is the time of the Writer's listing.
func (w *Writer) ListedAt() time.Time { return w.listedAt }

// Refresh rewrites, onto themselves, the stored pages the run names that were
// last written more than grace/2 before the listing (a server-side copy,
// metadata replaced), so that no sweep takes them while the run publishes. It
// returns the keys refreshed; a page gone meanwhile is an error.
func (w *Writer) Refresh(ctx context.Context) ([]string, error) {
	var keys []string
	for _, st := range w.stale {
		if _, err := w.store.Copy(ctx, st.key, st.key, blob.WriteOptions{Meta: st.meta}); err != nil {
			return keys, fmt.Errorf("refresh page %s: %w", st.key, err)
		}
		keys = append(keys, st.key)
	}
	return keys, nil
}

// Confirm checks that every key still exists.
func Confirm(ctx context.Context, s blob.Store, keys []string) error {
	for _, k := range keys {
		if _, err := s.Head(ctx, k); err != nil {
			if errors.Is(err, blob.ErrNotFound) {
				return fmt.Errorf("page %s was deleted by a concurrent sweep after this run refreshed it; the next run uploads it again: %w", k, err)
			}
			return fmt.Errorf("confirm page %s: %w", k, err)
		}
	}
	return nil
}

// Sweep deletes the pages of feed that no kept version names and that were
// last written more than grace before the listing that found them, each
// within Window(grace) of that listing (it lists again when the window
// passes). named returns the keys the kept versions name; it is called after
// each listing. listed, when set, runs after each listing (tests interleave
// runs there). It returns how many pages it deleted.
func Sweep(ctx context.Context, s blob.Store, feed string, grace time.Duration, now func() time.Time,
	named func(context.Context) (map[string]bool, error), listed func() error) (int, error) {
	w := Window(grace)
	deleted := 0
	for attempt := 0; attempt < 5; attempt++ {
		at := now()
		objs, err := s.List(ctx, Dir(feed))
		if err != nil {
			return deleted, fmt.Errorf("list %s: %w", Dir(feed), err)
		}
		if listed != nil {
			if err := listed(); err != nil {
				return deleted, err
			}
		}
		keep, err := named(ctx)
		if err != nil {
			return deleted, err
		}
		again := false
		for _, o := range objs {
			if keep[o.Key] || !strings.HasSuffix(o.Key, ".json") || at.Sub(o.ModTime) <= grace {
				continue
			}
			if now().Sub(at) > w {
				again = true
				break
			}
			if err := s.Delete(ctx, o.Key); err != nil {
				return deleted, fmt.Errorf("delete %s: %w", o.Key, err)
			}
			deleted++
		}
		if !again {
			return deleted, nil
		}
	}
	return deleted, errors.New("sweep: each listing outlasted its window; the next run sweeps again")
}
