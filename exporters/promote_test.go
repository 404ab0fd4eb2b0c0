package exporters

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// racingStore changes the manifest just before the first conditional write
// of it, as a run publishing at that moment would.
type racingStore struct {
	blob.Store
	raced bool
}

func (s *racingStore) Put(ctx context.Context, key string, r io.Reader, opt blob.WriteOptions) (blob.Attrs, error) {
	if strings.HasSuffix(key, "/manifest.json") && opt.IfMatch != "" && !s.raced {
		s.raced = true
		b, a, err := blob.ReadAll(ctx, s.Store, key)
		if err != nil {
			return blob.Attrs{}, err
		}
		if _, err := s.Store.Put(ctx, key, bytes.NewReader(append(b, '\n')), blob.WriteOptions{Meta: a.Meta}); err != nil {
			return blob.Attrs{}, err
		}
	}
	return s.Store.Put(ctx, key, r, opt)
}

// TestPromoteLosesToAConcurrentWrite: the manifest written conditionally; a
// manifest changed meanwhile fails the promote, and latest.json is untouched.
func TestPromoteLosesToAConcurrentWrite(t *testing.T) {
	dsn, w := scratchDB(t, `CREATE TABLE g (id INTEGER PRIMARY KEY, name TEXT)`, `INSERT INTO g VALUES (1, 'a'), (2, 'b')`)
	cfg := parseConfig(t, `version: 1
feeds:
  - name: g
    query: SELECT id, name FROM g ORDER BY id
    fields: {id: id, name: name}
`)
	store, _ := fileStore(t)
	r := &Runner{Config: cfg, DB: openDB(t, dsn), Store: store}
	v1 := runFeeds(t, r, t0, "g")[0].Version
	w.Exec(`UPDATE g SET name = 'bad' WHERE id = 1`)
	v2 := runFeeds(t, r, t0.Add(time.Hour), "g")[0].Version
	latest, _, _ := blob.ReadAll(context.Background(), store, "g/latest.json")

	p := &Runner{Config: cfg, Store: &racingStore{Store: store}}
	res, err := p.Promote(context.Background(), "g", v1)
	if err != nil || res.Status != StatusError || !strings.Contains(res.Message, "manifest changed while promoting") {
		t.Fatalf("promote against a concurrent write: %+v %v", res, err)
	}
	if after, _, _ := blob.ReadAll(context.Background(), store, "g/latest.json"); !bytes.Equal(after, latest) {
		t.Fatal("latest.json changed by a failed promote")
	}
	m, _, _ := readManifest(context.Background(), store, "g")
	if m.Version != v2 {
		t.Fatalf("manifest names %s, want %s still", m.Version, v2)
	}
	// Retried, it wins.
	if res, err := p.Promote(context.Background(), "g", v1); err != nil || res.Status != StatusSuccess {
		t.Fatalf("retry: %+v %v", res, err)
	}
	if _, err := p.Promote(context.Background(), "nope", v1); !errors.As(err, new(*UnknownFeedError)) {
		t.Errorf("unknown feed: %v", err)
	}
}
