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

// tracksFeed is the Chinook paged feed tracks-paged (a join) with
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
				if gz && engine != "sqlite" {
					continue // gzip pages are the same bytes on every engine once the documents are
				}
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
					if ka, kb := listKeys(t, want, paging.Dir("tracks-paged")), listKeys(t, store, paging.Dir("tracks-paged")); strings.Join(ka, ",") != strings.Join(kb, ",") {
						t.Fatalf("%s: stored pages differ: %d and %d", name, len(ka), len(kb))
					}
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

// itemsFeed is a paged feed of a generated table items(id, name).
func itemsFeed(rows, shards int) string {
	return fmt.Sprintf(`version: 1
feeds:
  - name: items
    query: SELECT id, name FROM items ORDER BY id
    fields: {id: id, name: name}
    pages: {by: id, rows: %d}
    shards: %d
`, rows, shards)
}

// itemsDB is a SQLite table of 3000 items with ids 10, 20, … 30000.
func itemsDB(t *testing.T) (string, func(stmt string, args ...any)) {
	dsn, w := scratchDB(t, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
		`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 3000)
		 INSERT INTO items SELECT 10 * n, 'item ' || n FROM s`)
	return dsn, func(stmt string, args ...any) {
		t.Helper()
		if _, err := w.Exec(stmt, args...); err != nil {
			t.Fatal(err)
		}
	}
}

// insertAtSeam inserts, after shard 0 of plan p ran, an item whose key is a
// page boundary between that shard's range end and where its pages ended
// (or, when there is no room, deletes the item its pages ended at): shard 1,
// reading later, starts its pages elsewhere, and the seam moves.
func insertAtSeam(t *testing.T, r *Runner, p *Plan, exec func(string, ...any)) int64 {
	t.Helper()
	var s shardState
	if err := r.getState(context.Background(), shardKey(p.Feed, p.RunID, 0), &s); err != nil {
		t.Fatal(err)
	}
	hi, _ := strconv.ParseInt(string(p.Shards[0].Hi), 10, 64)
	end, _ := strconv.ParseInt(string(s.End), 10, 64)
	for x := hi; x < end; x++ {
		if x%10 != 0 && paging.Boundary([]byte(strconv.FormatInt(x, 10)), r.Config.Feeds[0].Pages.Rows) {
			exec("INSERT INTO items VALUES (?, 'inserted')", x)
			return x
		}
	}
	// No room: delete the boundary item where shard 0's pages ended instead.
	exec("DELETE FROM items WHERE id = ?", end)
	return end
}

// TestShardSeams: a row inserted between two shards' reads, at their seam,
// is detected by commit, which exports the pair again; the result then is
// the unsharded export of the new data. When it happens again on the second
// try, the run fails and the previous version stays served.
func TestShardSeams(t *testing.T) {
	ctx := context.Background()
	dsn, exec := itemsDB(t)
	store, _ := fileStore(t)
	r := shardedRunner(t, itemsFeed(20, 2), dsn, store, 1)
	p, err := r.Plan(ctx, "items", t0, PlanOptions{})
	if err != nil || p.Source != "min_max" || len(p.Shards) != 2 {
		t.Fatalf("plan %+v: %v", p, err)
	}
	if _, err := r.Shard(ctx, p, 0); err != nil {
		t.Fatal(err)
	}
	insertAtSeam(t, r, p, exec)
	if _, err := r.Shard(ctx, p, 1); err != nil {
		t.Fatal(err)
	}
	shards, err := r.loadShards(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if bad := seamError(shards); bad == nil || bad.a != 0 || bad.b != 1 {
		t.Fatalf("seam not detected: %+v", bad)
	}
	res, err := r.Commit(ctx, p)
	if err != nil || res.Status != StatusSuccess || res.Rows != 3001 {
		t.Fatalf("commit after the pair ran again: %+v, %v", res, err)
	}
	plain, _ := fileStore(t)
	cfg := strings.Replace(itemsFeed(20, 2), "    shards: 2\n", "", 1)
	if res := runFeeds(t, &Runner{Config: parseConfig(t, cfg), DB: openDB(t, dsn), Store: plain}, t0)[0]; res.Status != StatusSuccess {
		t.Fatal(res.Message)
	}
	sameFeed(t, plain, store, "items")

	// Every time shard 0 has run, a row moves the seam: the second try fails too.
	published := manifestOf(t, store, "items").Version
	r.hook = func(_, step string) error {
		if step == stepShard+"0" {
			p, err := r.LoadPlan(ctx, "items", currentRun)
			if err != nil {
				return err
			}
			insertAtSeam(t, r, p, exec)
		}
		return nil
	}
	r.runID = func() string { return currentRun }
	res = runFeeds(t, r, t0.Add(time.Hour))[0]
	if res.Status != StatusError || !strings.Contains(res.Message, "again after exporting shards 0 and 1") {
		t.Fatalf("seam moved twice: %+v", res)
	}
	if m := manifestOf(t, store, "items"); m.Version != published {
		t.Fatalf("a failed sharded run published %s", m.Version)
	}
}

// currentRun is the run id of runs whose hooks read their plan.
const currentRun = "0000beef"

// TestShardFailure: a shard that fails fails the run, nothing is committed
// and the previous version stays served; Commit refuses a plan with a shard
// missing.
func TestShardFailure(t *testing.T) {
	ctx := context.Background()
	dsn, _ := itemsDB(t)
	store, _ := fileStore(t)
	r := shardedRunner(t, itemsFeed(20, 4), dsn, store, 2)
	if res := runFeeds(t, r, t0)[0]; res.Status != StatusSuccess {
		t.Fatal(res.Message)
	}
	published := manifestOf(t, store, "items")
	r.hook = func(_, step string) error {
		if step == stepShard+"2" {
			return errors.New("shard 2 died")
		}
		return nil
	}
	r.Config = parseConfig(t, strings.Replace(itemsFeed(20, 4), "SELECT id, name", "SELECT id, name || '!' AS name", 1))
	res := runFeeds(t, r, t0.Add(time.Hour))[0]
	if res.Status != StatusError || !strings.Contains(res.Message, "shard 2 died") {
		t.Fatalf("failed shard: %+v", res)
	}
	if m := manifestOf(t, store, "items"); m.Version != published.Version || m.SHA256 != published.SHA256 {
		t.Fatalf("a run with a failed shard published %s", m.Version)
	}
	r.hook = nil
	p, err := r.Plan(ctx, "items", t0.Add(2*time.Hour), PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 3} {
		if _, err := r.Shard(ctx, p, i); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := r.Commit(ctx, p); err == nil || res.Status != StatusError || !strings.Contains(err.Error(), "shard 2 has no result") {
		t.Fatalf("commit without shard 2: %+v %v", res, err)
	}
	if m := manifestOf(t, store, "items"); m.Version != published.Version {
		t.Fatalf("commit without a shard published %s", m.Version)
	}
}

// TestShardCommitRetried: a commit retried after its answer was lost (or
// after it died past its version write) finds its version and succeeds; a
// plan made under another config is refused by Shard and Commit.
func TestShardCommitRetried(t *testing.T) {
	ctx := context.Background()
	dsn, exec := itemsDB(t)
	store, _ := fileStore(t)
	r := shardedRunner(t, itemsFeed(20, 3), dsn, store, 1)
	run := func(at time.Time) *Plan {
		p, err := r.Plan(ctx, "items", at, PlanOptions{FunctionVersion: "7"})
		if err != nil {
			t.Fatal(err)
		}
		for i := range p.Shards {
			if _, err := r.Shard(ctx, p, i); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	p := run(t0)
	first, err := r.Commit(ctx, p)
	if err != nil || first.Status != StatusSuccess || first.Version != p.Version {
		t.Fatalf("commit: %+v %v", first, err)
	}
	again, err := r.Commit(ctx, p)
	if err != nil || again.Status != StatusSuccess || again.Version != p.Version || again.SHA256 != first.SHA256 {
		t.Fatalf("commit retried: %+v %v", again, err)
	}
	loaded, err := r.LoadPlan(ctx, "items", p.RunID)
	if err != nil || loaded.FunctionVersion != "7" || loaded.ConfigDigest != p.ConfigDigest || loaded.Version != p.Version {
		t.Fatalf("plan from the state store: %+v %v", loaded, err)
	}

	// A commit that died after writing its version object, before the manifest.
	exec("UPDATE items SET name = 'changed' WHERE id = 20")
	p = run(t0.Add(time.Hour))
	r.hook = func(_, step string) error {
		if step == stepVersion {
			return errors.New("killed")
		}
		return nil
	}
	if _, err := r.Commit(ctx, p); err == nil {
		t.Fatal("killed commit succeeded")
	}
	r.hook = nil
	res, err := r.Commit(ctx, p)
	if err != nil || res.Status != StatusSuccess || manifestOf(t, store, "items").Version != p.Version {
		t.Fatalf("commit retried after dying: %+v %v", res, err)
	}

	// Another config (a page size) than the plan's.
	p = run(t0.Add(2 * time.Hour))
	r.Config = parseConfig(t, itemsFeed(30, 3))
	if _, err := r.Shard(ctx, p, 0); !errors.Is(err, ErrConfigChanged) {
		t.Fatalf("shard under another config: %v", err)
	}
	if _, err := r.Commit(ctx, p); !errors.Is(err, ErrConfigChanged) {
		t.Fatalf("commit under another config: %v", err)
	}
	// A config that differs only in file positions is the same config.
	r.Config = parseConfig(t, strings.Replace(itemsFeed(20, 3), "feeds:\n", "feeds:\n\n\n", 1))
	if res, err := r.Commit(ctx, p); err != nil || res.Status != StatusUnchanged {
		t.Fatalf("commit under the same config moved: %+v %v", res, err)
	}
}

// TestShardedOwnRange: a query that writes its range with :lo and :hi (here
// a group feed, whose item order a wrapping ORDER BY would lose, and a
// LIMIT) is bound per shard, and with NULLs when unsharded: the pages are
// the same either way.
func TestShardedOwnRange(t *testing.T) {
	const feed = `version: 1
feeds:
  - name: albums
    query: |
      SELECT a.AlbumId, a.Title, t.TrackId, t.Name AS TrackName
      FROM Album a JOIN Track t ON t.AlbumId = a.AlbumId
      WHERE (:lo IS NULL OR a.AlbumId >= :lo) AND (:hi IS NULL OR a.AlbumId < :hi)
      ORDER BY a.AlbumId, t.TrackId DESC
      LIMIT 100000
    mapper: group
    fields: {id: AlbumId, title: Title}
    group: {by: AlbumId, into: tracks, fields: {id: TrackId, name: TrackName}}
    pages: {by: AlbumId, rows: 10}
`
	plain, _ := fileStore(t)
	if res := runFeeds(t, &Runner{Config: parseConfig(t, feed), DB: openDB(t, chinookDSN), Store: plain}, t0)[0]; res.Status != StatusSuccess || res.Rows != 347 {
		t.Fatalf("unsharded: %+v", res)
	}
	for _, workers := range []int{1, 3} {
		store, _ := fileStore(t)
		r := shardedRunner(t, feed+"    shards: 5\n", chinookDSN, store, workers)
		if res := runFeeds(t, r, t0)[0]; res.Status != StatusSuccess || res.Rows != 347 {
			t.Fatalf("workers %d: %+v", workers, res)
		}
		sameFeed(t, plain, store, "albums")
	}
	// Without placeholders, a sharded group feed is refused.
	store, _ := fileStore(t)
	noRange := strings.Replace(feed, "WHERE (:lo IS NULL OR a.AlbumId >= :lo) AND (:hi IS NULL OR a.AlbumId < :hi)\n", "", 1)
	r := shardedRunner(t, noRange+"    shards: 2\n", chinookDSN, store, 1)
	if res := runFeeds(t, r, t0)[0]; res.Status != StatusError || !strings.Contains(res.Message, ":lo and :hi") {
		t.Fatalf("group feed without placeholders: %+v", res)
	}
}

// TestPlanBalance: on a key with big gaps, the first plan (MIN/MAX) is
// unbalanced but exports the same pages; the next plan, from the published
// page index, gives shards of similar rows (largest ÷ mean ≤ 1.2).
func TestPlanBalance(t *testing.T) {
	ctx := context.Background()
	dsn, _ := scratchDB(t, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
		`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 6000)
		 INSERT INTO items SELECT CASE WHEN n <= 5000 THEN n ELSE 1000000000 + n * 1000 END, 'item ' || n FROM s`)
	plain, _ := fileStore(t)
	cfg := itemsFeed(100, 4)
	if res := runFeeds(t, &Runner{Config: parseConfig(t, strings.Replace(cfg, "    shards: 4\n", "", 1)), DB: openDB(t, dsn), Store: plain}, t0)[0]; res.Status != StatusSuccess {
		t.Fatal(res.Message)
	}
	store, _ := fileStore(t)
	r := shardedRunner(t, cfg, dsn, store, 2)
	balance := func(at time.Time, source string) float64 {
		p, err := r.Plan(ctx, "items", at, PlanOptions{})
		if err != nil || p.Source != source || len(p.Shards) != 4 {
			t.Fatalf("plan %+v: %v", p, err)
		}
		var most, sum int64
		for i := range p.Shards {
			s, err := r.Shard(ctx, p, i)
			if err != nil {
				t.Fatal(err)
			}
			most, sum = max(most, s.Rows), sum+s.Rows
		}
		if res, err := r.Commit(ctx, p); err != nil || (res.Status != StatusSuccess && res.Status != StatusUnchanged) {
			t.Fatalf("commit: %+v %v", res, err)
		}
		return float64(most) / (float64(sum) / 4)
	}
	if b := balance(t0, "min_max"); b < 3 {
		t.Fatalf("MIN/MAX on a skewed key: balance %.2f, expected a lopsided plan", b)
	}
	sameFeed(t, plain, store, "items")
	if b := balance(t0.Add(time.Hour), "index"); b > 1.2 {
		t.Fatalf("plan from the page index: balance %.2f > 1.2", b)
	}
	// plan_query gives the bounds instead of MIN/MAX over the query.
	pq := shardedRunner(t, cfg+"    plan_query: SELECT 1, 4000\n", dsn, plain, 1)
	p, err := pq.Plan(ctx, "items", t0.Add(time.Hour), PlanOptions{})
	if err != nil || p.Source != "index" {
		t.Fatalf("plan with a page index and plan_query: %+v %v", p, err)
	}
	fresh, _ := fileStore(t)
	pq.Store = fresh
	if p, err = pq.Plan(ctx, "items", t0, PlanOptions{}); err != nil || p.Source != "min_max" || string(p.Shards[1].Lo) != "1001" || string(p.Shards[3].Lo) != "3001" {
		t.Fatalf("plan from plan_query: %+v %v", p, err)
	}
}

// TestShardTransientError: a connection failure in plan or shard is a
// TransientError (the state machine retries it); a failing query is not.
func TestShardTransientError(t *testing.T) {
	ctx := context.Background()
	dsn, _ := itemsDB(t)
	store, _ := fileStore(t)
	r := shardedRunner(t, itemsFeed(20, 2), dsn, store, 1)
	p, err := r.Plan(ctx, "items", t0, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	down, err := db.Open(ctx, "mysql://root@127.0.0.1:1/test", db.Options{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	gone := *r
	gone.DB = down
	var te *TransientError
	if _, err := gone.Shard(ctx, p, 1); !errors.As(err, &te) {
		t.Fatalf("shard on a server that is down: %v", err)
	}
	if _, err := gone.Plan(ctx, "items", t0, PlanOptions{}); !errors.As(err, &te) {
		t.Fatalf("plan on a server that is down: %v", err)
	}
	r.Config = parseConfig(t, strings.Replace(itemsFeed(20, 2), "FROM items", "FROM no_such_table", 1))
	p.ConfigDigest = ConfigDigest(r.Config.Feeds[0])
	if _, err := r.Shard(ctx, p, 0); err == nil || errors.As(err, &te) {
		t.Fatalf("a failing query: %v", err)
	}
}

// TestValidateSharded: validate --db refuses a sharded group feed without
// :lo/:hi and a plan_query that does not return two columns.
func TestValidateSharded(t *testing.T) {
	ctx := context.Background()
	d := openDB(t, chinookDSN)
	group := `version: 1
feeds:
  - name: albums
    query: SELECT a.AlbumId, a.Title, t.TrackId FROM Album a JOIN Track t USING (AlbumId) ORDER BY a.AlbumId, t.TrackId
    mapper: group
    fields: {id: AlbumId, title: Title}
    group: {by: AlbumId, into: tracks, fields: {id: TrackId}}
    pages: {by: AlbumId}
    shards: 2
`
	for _, c := range []struct{ cfg, want string }{
		{group, "writes its range with :lo and :hi"},
		{strings.Replace(tracksFeed(50, 2, false), "    shards: 2", "    shards: 2\n    plan_query: SELECT 1", 1), "plan_query returns 1 columns"},
		{strings.Replace(tracksFeed(50, 2, false), "    shards: 2", "    shards: 2\n    plan_query: SELECT MIN(TrackId), MAX(TrackId) FROM Track", 1), ""},
	} {
		err := ValidateFeed(ctx, d, parseConfig(t, c.cfg).Feeds[0], nil)
		if (c.want == "" && err != nil) || (c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want))) {
			t.Errorf("validate: %v, want %q", err, c.want)
		}
	}
}

// TestShardedOverlapping: two sharded runs for different scheduled times
// that overlap end with the newer one published, whichever commits first.
func TestShardedOverlapping(t *testing.T) {
	ctx := context.Background()
	dsn, exec := itemsDB(t)
	for _, newerFirst := range []bool{true, false} {
		store, _ := fileStore(t)
		r := shardedRunner(t, itemsFeed(20, 3), dsn, store, 1)
		run := func(at time.Time) *Plan {
			p, err := r.Plan(ctx, "items", at, PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range p.Shards {
				if _, err := r.Shard(ctx, p, i); err != nil {
					t.Fatal(err)
				}
			}
			return p
		}
		older := run(t0.Add(time.Hour))
		exec("UPDATE items SET name = name || '.' WHERE id = 30")
		newer := run(t0.Add(2 * time.Hour))
		order, want := []*Plan{older, newer}, []string{StatusSuccess, StatusSuccess}
		if newerFirst {
			order, want = []*Plan{newer, older}, []string{StatusSuccess, StatusSkipped}
		}
		for i, p := range order {
			if res, err := r.Commit(ctx, p); err != nil || res.Status != want[i] {
				t.Fatalf("newer first %v, commit %d: %+v %v", newerFirst, i, res, err)
			}
		}
		if m := manifestOf(t, store, "items"); m.Version != newer.Version {
			t.Fatalf("newer first %v: %s published, not the newer %s", newerFirst, m.Version, newer.Version)
		}
	}
}
