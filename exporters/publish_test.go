package exporters

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// assertConsistent checks the rules of CONTRACT §5 a reader relies on: the
// manifest names a stored version, latest.json is that version (bytes and
// x-amz-meta-version), and schema.json is the manifest's schema.
func assertConsistent(t *testing.T, s blob.Store, feed string) *Manifest {
	t.Helper()
	m := manifestOf(t, s, feed)
	if m == nil {
		t.Fatal("no manifest")
	}
	version := readDoc(t, s, versionKey(feed, m.Version))
	latest := readDoc(t, s, latestKey(feed))
	la, err := s.Head(context.Background(), latestKey(feed))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(version, latest) || la.User["version"] != m.Version || la.User["sha256"] != m.SHA256 {
		t.Fatalf("latest.json (version %s) is not the manifest's version %s", la.User["version"], m.Version)
	}
	sum := sha256.Sum256(readDoc(t, s, schemaKey(feed)))
	if hex.EncodeToString(sum[:]) != m.SchemaSHA256 {
		t.Fatalf("schema.json is not the manifest's schema")
	}
	return m
}

// stores returns the folder store and, with MinIO, an S3 store, each fresh.
func stores(t *testing.T) map[string]func(t *testing.T) blob.Store {
	m := testsvc.StartMinIO(t)
	n := 0
	return map[string]func(t *testing.T) blob.Store{
		"folder": func(t *testing.T) blob.Store { s, _ := fileStore(t); return s },
		"minio": func(t *testing.T) blob.Store {
			n++
			return openStore(t, fmt.Sprintf("%s/run-%d", m.URL(), n))
		},
	}
}

// TestManualRerunSameSecond: a manual run in the same second as the last
// publish, with changed data, publishes (issue 11, defect 1).
func TestManualRerunSameSecond(t *testing.T) {
	dsn, w := scratchDB(t, "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)", "INSERT INTO items (label) VALUES ('a')")
	store, _ := fileStore(t)
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	r := &Runner{Config: parseConfig(t, counterFeed), DB: openDB(t, dsn), Store: store, Now: func() time.Time { return now }}
	first := runFeeds(t, r, time.Time{})[0]
	w.Exec("UPDATE items SET label = 'b'")
	now = now.Add(400 * time.Millisecond) // the same second
	second := runFeeds(t, r, time.Time{})[0]
	if first.Status != StatusSuccess || second.Status != StatusSuccess || second.Version == first.Version {
		t.Fatalf("first %+v, second %+v", first, second)
	}
	m := assertConsistent(t, store, "items")
	if m.Version != second.Version || len(m.Versions) != 2 || !strings.HasPrefix(m.Version, "20261203T100000Z-") {
		t.Fatalf("manifest %+v", m)
	}
	if !bytes.Contains(readDoc(t, store, latestKey("items")), []byte(`"b"`)) {
		t.Fatal("latest.json is the old content")
	}
	// A manual run is never named before the published version (a clock behind).
	now = now.Add(-time.Hour)
	w.Exec("UPDATE items SET label = 'c'")
	third := runFeeds(t, r, time.Time{})[0]
	if third.Status != StatusSuccess || !strings.HasPrefix(third.Version, "20261203T100000Z-") {
		t.Fatalf("manual run with a clock behind: %+v", third)
	}
}

// twoRuns prepares a feed with a first published version and returns a
// function making runners on the store.
func twoRuns(t *testing.T, store blob.Store) (newRunner func() *Runner, exec func(string)) {
	dsn, w := scratchDB(t, "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)", "INSERT INTO items (label) VALUES ('a')")
	cfg := parseConfig(t, counterFeed)
	newRunner = func() *Runner { return &Runner{Config: cfg, DB: openDB(t, dsn), Store: store} }
	exec = func(q string) {
		if _, err := w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if res := runFeeds(t, newRunner(), t0)[0]; res.Status != StatusSuccess {
		t.Fatalf("first run: %+v", res)
	}
	return newRunner, exec
}

var publishSteps = []string{stepEncoded, stepVersion, stepManifest, stepLatest, stepSchema}

// TestInterleavedRuns: one run paused after each of its writes while another
// run publishes in full; whichever is newer, every run ends with latest.json
// equal to the manifest's version, and the newer version published (issue 11,
// defect 2).
func TestInterleavedRuns(t *testing.T) {
	for name, newStore := range stores(t) {
		for _, step := range publishSteps {
			for _, pausedIsNewer := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/paused-after-%s/paused-newer=%v", name, step, pausedIsNewer), func(t *testing.T) {
					store := newStore(t)
					newRunner, exec := twoRuns(t, store)
					pausedAt, otherAt := t0.Add(time.Hour), t0.Add(2*time.Hour)
					if pausedIsNewer {
						pausedAt, otherAt = otherAt, pausedAt
					}
					exec("UPDATE items SET label = 'paused'")
					hold, release := make(chan struct{}), make(chan struct{})
					paused := newRunner()
					paused.hook = atStep(step, func() { close(hold); <-release })
					done := make(chan Result)
					go func() { done <- runFeeds(t, paused, pausedAt)[0] }()
					select {
					case <-hold:
					case res := <-done: // the step never came: the run ended before it
						t.Logf("paused run ended before %s: %+v", step, res)
						close(hold)
						go func() { done <- res }()
					}
					exec("UPDATE items SET label = 'other'")
					other := runFeeds(t, newRunner(), otherAt)[0]
					close(release)
					pres := <-done
					m := assertConsistent(t, store, "items")
					newer := other
					if pausedIsNewer {
						newer = pres
					}
					if newer.Status != StatusSuccess || m.Version != newer.Version {
						t.Fatalf("paused %+v, other %+v, manifest %s", pres, other, m.Version)
					}
					if pres.Status == StatusError || other.Status == StatusError {
						t.Fatalf("paused %+v, other %+v", pres, other)
					}
				})
			}
		}
	}
}

// TestKilledRunRepaired: a run killed after each of its writes leaves the
// feed readable, and the next run, even one with unchanged content, repairs
// latest.json and schema.json, and sweeps a version the dead run left.
func TestKilledRunRepaired(t *testing.T) {
	for name, newStore := range stores(t) {
		for _, step := range publishSteps[1:] {
			t.Run(name+"/killed-after-"+step, func(t *testing.T) {
				store := newStore(t)
				newRunner, exec := twoRuns(t, store)
				exec("UPDATE items SET label = 'changed'")
				dead := newRunner()
				dead.hook = func(_, s string) error {
					if s == step {
						return errors.New("SIGKILL")
					}
					return nil
				}
				if res := runFeeds(t, dead, t0.Add(time.Hour))[0]; res.Status != StatusError {
					t.Fatalf("killed run: %+v", res)
				}
				// What a reader sees right after the crash: a manifest naming a stored
				// version (latest.json may still be the previous one).
				m := manifestOf(t, store, "items")
				readDoc(t, store, versionKey("items", m.Version))

				next := runFeeds(t, newRunner(), t0.Add(2*time.Hour))[0]
				m = assertConsistent(t, store, "items")
				if !bytes.Contains(readDoc(t, store, latestKey("items")), []byte("changed")) {
					t.Fatalf("next run %+v: latest.json is not the changed content", next)
				}
				want := StatusUnchanged // the dead run's version was published: same content
				if step == stepVersion {
					want = StatusSuccess // it never reached the manifest
				}
				if next.Status != want {
					t.Fatalf("next run %+v, want %s", next, want)
				}
				named := map[string]bool{}
				for _, v := range m.Versions {
					named[v.Key] = true
				}
				for _, k := range listKeys(t, store, "items/versions/") {
					if !named[k] {
						t.Errorf("unnamed version left: %s", k)
					}
				}
			})
		}
	}
}

// TestCatalogTwoFeedsTogether: two feeds whose runs finish together both
// appear in index.json (issue 11: it was a read-then-write).
func TestCatalogTwoFeedsTogether(t *testing.T) {
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			store := newStore(t)
			dsn, _ := scratchDB(t, "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)", "INSERT INTO items (label) VALUES ('a')")
			cfg := parseConfig(t, counterFeed+`  - name: other
    query: SELECT id FROM items ORDER BY id
    fields: {id: id}
`)
			hold, release := make(chan struct{}), make(chan struct{})
			slow := &Runner{Config: cfg, DB: openDB(t, dsn), Store: store}
			slow.hook = atStep(stepCatalog, func() { close(hold); <-release })
			var wg sync.WaitGroup
			wg.Go(func() { runFeeds(t, slow, t0, "items") })
			<-hold // built its index.json without "other"
			runFeeds(t, &Runner{Config: cfg, DB: openDB(t, dsn), Store: store}, t0, "other")
			close(release)
			wg.Wait()
			var c Catalog
			readJSON(t, store, "index.json", &c)
			if len(c.Feeds) != 2 {
				t.Fatalf("index.json lists %d feeds: %+v", len(c.Feeds), c.Feeds)
			}
		})
	}
}

// TestSchemaOnlyChange: a new schema with the same document bytes publishes a
// version and reaches schema.json; with nothing changed, only checked_at moves.
func TestSchemaOnlyChange(t *testing.T) {
	dsn, _ := scratchDB(t, "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL)", "INSERT INTO items (label) VALUES ('a')")
	store, _ := fileStore(t)
	clock := t0
	tick := func() time.Time { clock = clock.Add(time.Minute); return clock }
	r := &Runner{Config: parseConfig(t, counterFeed), DB: openDB(t, dsn), Store: store, Now: tick}
	first := runFeeds(t, r, t0)[0]
	before := assertConsistent(t, store, "items")
	latestBefore, _ := store.Head(context.Background(), latestKey("items"))

	again := runFeeds(t, r, t0.Add(time.Hour))[0]
	m := assertConsistent(t, store, "items")
	latestAfter, _ := store.Head(context.Background(), latestKey("items"))
	if again.Status != StatusUnchanged || m.Version != first.Version || !m.CheckedAt.After(before.CheckedAt) ||
		latestAfter.ETag != latestBefore.ETag || !latestAfter.ModTime.Equal(latestBefore.ModTime) {
		t.Fatalf("unchanged run: %+v; checked_at %v → %v", again, before.CheckedAt, m.CheckedAt)
	}

	typed := &Runner{Config: parseConfig(t, strings.Replace(counterFeed, "label: label", "label: {column: label, type: string, omit_null: true}", 1)),
		DB: openDB(t, dsn), Store: store, Now: tick}
	third := runFeeds(t, typed, t0.Add(2*time.Hour))[0]
	m = assertConsistent(t, store, "items")
	if third.Status != StatusSuccess || third.SHA256 != first.SHA256 || m.SchemaSHA256 == before.SchemaSHA256 {
		t.Fatalf("schema-only change: %+v (schema %s → %s)", third, before.SchemaSHA256, m.SchemaSHA256)
	}
}

// TestSidecarFailureConsistent: a folder write whose metadata fails after
// the data was written (disk full) fails the run and leaves a consistent
// feed; the next run publishes (issue 11, defect 3).
func TestSidecarFailureConsistent(t *testing.T) {
	for _, key := range []string{"items/manifest.json", "items/latest.json", "index.json"} {
		t.Run(key, func(t *testing.T) {
			store, dir := fileStore(t)
			newRunner, exec := twoRuns(t, store)
			exec("UPDATE items SET label = 'changed'")
			disk := errors.New("no space left on device")
			store.InjectMetaFault(func(k string) error {
				if k == key {
					return disk
				}
				return nil
			})
			res := runFeeds(t, newRunner(), t0.Add(time.Hour))[0]
			store.InjectMetaFault(nil)
			if key != "index.json" && (res.Status != StatusError || !strings.Contains(res.Message, disk.Error())) {
				t.Fatalf("run with a failing %s: %+v", key, res)
			}
			reopened, err := fileblob.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if key == "items/manifest.json" {
				assertConsistent(t, reopened, "items")
			}
			next := runFeeds(t, newRunner(), t0.Add(2*time.Hour))[0]
			if next.Status == StatusError {
				t.Fatalf("next run: %+v", next)
			}
			assertConsistent(t, reopened, "items")
			if !bytes.Contains(readDoc(t, reopened, latestKey("items")), []byte("changed")) {
				t.Fatal("latest.json is not the changed content")
			}
			var c Catalog
			readJSON(t, reopened, "index.json", &c)
			if len(c.Feeds) != 1 || c.Feeds[0].Version != manifestOf(t, reopened, "items").Version {
				t.Fatalf("index.json %+v", c.Feeds)
			}
		})
	}
}

// TestManualRunNamedByStoreClock: on S3 a manual run's version is named by the
// store's clock (the Date of the response that read the manifest, a 404 for a
// first publish included), so a machine whose clock runs ahead cannot date a
// version in the future.
func TestManualRunNamedByStoreClock(t *testing.T) {
	m := testsvc.StartMinIO(t)
	store := openStore(t, m.URL())
	dsn, w := scratchDB(t, "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)", "INSERT INTO items (label) VALUES ('a')")
	ahead := func() time.Time { return time.Now().Add(365 * 24 * time.Hour) }
	r := &Runner{Config: parseConfig(t, counterFeed), DB: openDB(t, dsn), Store: store, Now: ahead}
	for i := range 2 {
		before := time.Now().UTC().Truncate(time.Second)
		res := runFeeds(t, r, time.Time{})[0]
		after := time.Now().UTC()
		at, err := versionTime(res.Version)
		if err != nil || res.Status != StatusSuccess || at.Before(before) || at.After(after) {
			t.Fatalf("run %d: %+v (%v), want a version named between %v and %v", i, res, err, before, after)
		}
		w.Exec("UPDATE items SET label = 'b'")
	}
}
