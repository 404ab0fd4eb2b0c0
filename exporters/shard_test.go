package exporters

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters/paging"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// shardedFeed is the Chinook paged feed tracks-paged (a join) with
// pages of rows documents, sharded when shards > 0.
func tracksFeed(rows, shards int, gzip bool) string {
	s := ""
	if shards > 0 {
		s = fmt.Sprintf("\n    shards: %d", shards)
	}
	c := "none"
	if gzip {
		c = "gzip"
	}
	return fmt.Sprintf(`version: 1
feeds:
  - name: tracks-paged
    compress: %s
    query: |
      SELECT t.TrackId, t.Name, t.AlbumId, g.Name AS GenreName, t.Milliseconds, t.UnitPrice
      FROM Track t LEFT JOIN Genre g ON g.GenreId = t.GenreId
      ORDER BY t.TrackId
    queries:
      postgres: |
        SELECT t.track_id AS "TrackId", t.name AS "Name", t.album_id AS "AlbumId", g.name AS "GenreName",
               t.milliseconds AS "Milliseconds", t.unit_price AS "UnitPrice"
        FROM track t LEFT JOIN genre g ON g.genre_id = t.genre_id
        ORDER BY t.track_id
    fields: {id: TrackId, name: Name, album_id: AlbumId, genre: GenreName, duration_ms: Milliseconds, price: {column: UnitPrice, type: decimal, scale: 2}}
    pages: {by: TrackId, rows: %d, max_bytes: 4096}%s
`, c, rows, s)
}

// sameFeed fails unless feed's page index in a and b is the same but for
// version and generated_at, and every page is the same bytes.
func sameFeed(t *testing.T, a, b blob.Store, feed string) *paging.Index {
	t.Helper()
	ctx := context.Background()
	ia, err := readIndex(ctx, a, latestKey(feed))
	if err != nil {
		t.Fatal(err)
	}
	ib, err := readIndex(ctx, b, latestKey(feed))
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := marshal(ia.Pages)
	jb, _ := marshal(ib.Pages)
	if !bytes.Equal(ja, jb) {
		t.Fatalf("page lists differ (%d and %d pages)\n%s", len(ia.Pages), len(ib.Pages), firstDiff(ja, jb))
	}
	ia.Version, ia.GeneratedAt, ib.Version, ib.GeneratedAt = "", time.Time{}, "", time.Time{}
	if ja, jb = mustMarshal(t, ia), mustMarshal(t, ib); !bytes.Equal(ja, jb) {
		t.Fatalf("page indexes differ\n%s", firstDiff(ja, jb))
	}
	for _, p := range ia.Pages {
		pa, _, err := blob.ReadAll(ctx, a, feed+"/"+p.URL)
		if err != nil {
			t.Fatal(err)
		}
		pb, _, err := blob.ReadAll(ctx, b, feed+"/"+p.URL)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pa, pb) {
			t.Fatalf("page %s differs", p.URL)
		}
	}
	if ka, kb := listKeys(t, a, paging.Dir(feed)), listKeys(t, b, paging.Dir(feed)); strings.Join(ka, ",") != strings.Join(kb, ",") {
		t.Fatalf("stored pages differ: %d and %d", len(ka), len(kb))
	}
	return ia
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// shardedRunner returns a Runner for cfg on dsn with a state store and
// workers (the pool has that many connections).
func shardedRunner(t *testing.T, cfg, dsn string, store blob.Store, workers int) *Runner {
	t.Helper()
	state, _ := fileStore(t)
	d := openDBConns(t, dsn, workers)
	return &Runner{Config: parseConfig(t, cfg), DB: d, Store: store, State: state, Workers: workers}
}

// TestShardedSameAsUnsharded: on SQLite, MariaDB and PostgreSQL, the
// Chinook join tracks-paged exported with shards and --workers 1, 3, 4
// (and more shards than pages) gives byte-identical pages and the same page
// index as the unsharded export; the plan splits by MIN/MAX on the first
// run and by the published page index on the next, which finds the content
// unchanged.
func TestShardedSameAsUnsharded(t *testing.T) {
	dsns := map[string]string{"sqlite": chinookDSN}
	for _, engine := range []string{"mysql", "postgres"} {
		tdb := testsvc.Engines[engine](t)
		tdb.LoadChinook(t)
		dsns[engine] = tdb.DSN
	}
	for _, engine := range []string{"sqlite", "mysql", "postgres"} {
		dsn := dsns[engine]
		t.Run(engine, func(t *testing.T) {
			for _, gz := range []bool{false, true} {
				plain, _ := fileStore(t)
				r := &Runner{Config: parseConfig(t, tracksFeed(50, 0, gz)), DB: openDB(t, dsn), Store: plain}
				if res := runFeeds(t, r, t0)[0]; res.Status != StatusSuccess {
					t.Fatalf("unsharded: %+v", res)
				}
				for _, c := range []struct{ rows, shards, workers int }{
					{50, 1, 1}, {50, 4, 1}, {50, 3, 3}, {50, 4, 4}, {50, 7, 4}, {2000, 5, 3}, {50, 300, 4},
				} {
					name := fmt.Sprintf("gzip=%v/rows=%d/shards=%d/workers=%d", gz, c.rows, c.shards, c.workers)
					want := plain
					if c.rows != 50 {
						want, _ = fileStore(t)
						r := &Runner{Config: parseConfig(t, tracksFeed(c.rows, 0, gz)), DB: openDB(t, dsn), Store: want}
						runFeeds(t, r, t0)
					}
					store, _ := fileStore(t)
					sr := shardedRunner(t, tracksFeed(c.rows, c.shards, gz), dsn, store, c.workers)
					if res := runFeeds(t, sr, t0)[0]; res.Status != StatusSuccess || res.Rows != 3503 {
						t.Fatalf("%s: %+v", name, res)
					}
					idx := sameFeed(t, want, store, "tracks-paged")
					if c.shards == 300 && len(idx.Pages) >= 300 {
						t.Fatalf("%s: %d pages, not fewer than the shards", name, len(idx.Pages))
					}
					// The next plan splits at the published pages' boundaries.
					p, err := sr.Plan(context.Background(), "tracks-paged", t0.Add(time.Hour), PlanOptions{})
					if err != nil {
						t.Fatal(err)
					}
					if wantSrc := map[bool]string{true: "single", false: "index"}[c.shards == 1]; p.Source != wantSrc {
						t.Fatalf("%s: second plan from %q, want %q", name, p.Source, wantSrc)
					}
					if c.shards > 1 && len(p.Shards) < 2 {
						t.Fatalf("%s: second plan has %d shards", name, len(p.Shards))
					}
					if res := runFeeds(t, sr, t0.Add(2*time.Hour))[0]; res.Status != StatusUnchanged {
						t.Fatalf("%s: second run: %+v", name, res)
					}
				}
			}
		})
	}
}

// openDBConns opens dsn with a pool of conns connections.
func openDBConns(t testing.TB, dsn string, conns int) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), dsn, db.Options{MaxConns: conns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var _ = errors.New
var _ = strconv.Itoa
