package exporters_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
	"github.com/sqlfeed/sqlfeed/transform"
)

// runningSession returns the server session running a query containing mark.
func runningSession(t testing.TB, tdb *testsvc.DB, mark string) (int64, bool) {
	t.Helper()
	ids := tdb.SessionsRunning(t, mark)
	if len(ids) != 1 {
		return 0, false
	}
	return ids[0], true
}

// TestEngineFaultsPipeline: on each engine, ten runs of a feed in one process
// use one server connection; a run whose connection is killed while rows flow
// fails, publishes nothing and leaves the previous version served.
func TestEngineFaultsPipeline(t *testing.T) {
	for _, engine := range []string{"mysql", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			tdb.Admin.SetMaxOpenConns(1)
			// 500,000 rows of 100+ bytes: far more than socket buffers hold, so
			// the kill lands while the server is still sending.
			gen := "INSERT INTO numbers SELECT seq, CONCAT('n', seq, REPEAT('.', 100)) FROM seq_1_to_500000"
			if engine == "postgres" {
				gen = "INSERT INTO numbers SELECT g, 'n' || g || repeat('.', 100) FROM generate_series(1, 500000) g"
			}
			tdb.Exec(t, "CREATE TABLE numbers (id INT PRIMARY KEY, label VARCHAR(200))")
			tdb.Exec(t, gen)
			tdb.Exec(t, "CREATE TABLE small (id INT PRIMARY KEY)")
			tdb.Exec(t, "INSERT INTO small VALUES (1), (2), (3)")
			var b [6]byte
			_, _ = rand.Read(b[:])
			mark := "mark_" + hex.EncodeToString(b[:])
			cfg, err := config.Parse("faults.yaml", []byte(`version: 1
feeds:
  - name: numbers
    schedule: rate(1 hour)
    query: SELECT id, label FROM numbers ORDER BY id /* `+mark+` */
    fields: {id: id, label: label}
  - name: small
    schedule: rate(1 hour)
    query: SELECT id FROM small ORDER BY id
    fields: {id: id}
`), transform.Default)
			if err != nil {
				t.Fatal(err)
			}
			d, err := db.Open(context.Background(), tdb.DSN, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			store, err := fileblob.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			r := &exporters.Runner{Config: cfg, DB: d, Store: store}
			t0 := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
			ctx := context.Background()
			for i := range 10 {
				res, err := r.Run(ctx, exporters.Request{Feeds: []string{"small"}, ScheduledTime: t0.Add(time.Duration(i) * time.Minute)})
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]string{true: exporters.StatusSuccess, false: exporters.StatusUnchanged}[i == 0]; res[0].Status != want || res[0].Rows != 3 {
					t.Fatalf("run %d: %+v", i+1, res[0])
				}
				if n := len(tdb.Sessions(t)); n != 1 {
					t.Fatalf("after run %d the server shows %d sqlfeed sessions, want 1", i+1, n)
				}
			}
			res, err := r.Run(ctx, exporters.Request{Feeds: []string{"numbers"}, ScheduledTime: t0})
			if err != nil || res[0].Status != exporters.StatusSuccess || res[0].Rows != 500000 {
				t.Fatalf("first run of numbers: %+v %v", res, err)
			}
			before, _, err := blob.ReadAll(ctx, store, "numbers/latest.json")
			if err != nil {
				t.Fatal(err)
			}
			manifest, _, _ := blob.ReadAll(ctx, store, "numbers/manifest.json")

			// The content changes, then the connection dies mid-stream.
			tdb.Exec(t, "UPDATE numbers SET label = 'changed' WHERE id = 1")
			var once sync.Once
			r.Progress = func(feed string, rows, bytes int64) {
				once.Do(func() {
					id, ok := runningSession(t, tdb, mark)
					if !ok {
						t.Errorf("no server session runs the feed's query")
						return
					}
					tdb.Kill(t, id)
				})
			}
			res, err = r.Run(ctx, exporters.Request{Feeds: []string{"numbers"}, ScheduledTime: t0.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("killed run: %+v", res[0])
			if res[0].Status != exporters.StatusError || !strings.Contains(res[0].Message, "after") {
				t.Fatalf("killed run: %+v", res[0])
			}
			after, _, _ := blob.ReadAll(ctx, store, "numbers/latest.json")
			manifestAfter, _, _ := blob.ReadAll(ctx, store, "numbers/manifest.json")
			versions, _ := store.List(ctx, "numbers/versions/")
			if !bytes.Equal(before, after) || !bytes.Equal(manifest, manifestAfter) || len(versions) != 1 {
				t.Fatalf("the failed run changed what is published (%d versions)", len(versions))
			}

			// The next run reconnects and publishes the new content.
			r.Progress = nil
			res, err = r.Run(ctx, exporters.Request{Feeds: []string{"numbers"}, ScheduledTime: t0.Add(2 * time.Hour)})
			if err != nil || res[0].Status != exporters.StatusSuccess {
				t.Fatalf("run after the kill: %+v %v", res, err)
			}
		})
	}
}
