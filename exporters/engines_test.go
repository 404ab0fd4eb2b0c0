package exporters

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// The sample feeds exported from Chinook on MariaDB/MySQL and PostgreSQL are
// byte-identical to testdata/golden, the files SQLite's export is checked
// against (TestGoldenSQLite): one output whatever the engine.
func TestGoldenMySQL(t *testing.T)    { checkEngineSample(t, "mysql") }
func TestGoldenPostgres(t *testing.T) { checkEngineSample(t, "postgres") }

func checkEngineSample(t *testing.T, engine string) {
	tdb := testsvc.Engines[engine](t)
	tdb.LoadChinook(t)
	describeSample(t, tdb.DSN)
	checkSampleFeeds(t, tdb.DSN)
}

// describeSample checks what `sqlfeed validate --db` relies on: every sample
// feed's engine query describes (no rows read) to the columns its SQLite
// query has, by name.
func describeSample(t *testing.T, dsn string) {
	t.Helper()
	cfg := sampleConfig(t)
	ctx := context.Background()
	lite, d := openDB(t, chinookDSN), openDB(t, dsn)
	for _, f := range cfg.Feeds {
		want, err := lite.Describe(ctx, f.QueryFor("sqlite"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.Describe(ctx, f.QueryFor(d.Engine()))
		if err != nil {
			t.Fatalf("%s: describe: %v", f.Name, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d columns, SQLite %d", f.Name, len(got), len(want))
		}
		for i := range got {
			if got[i].Name != want[i].Name {
				t.Errorf("%s: column %d is %q, SQLite %q", f.Name, i, got[i].Name, want[i].Name)
			}
		}
	}
}

// TestHeavyStreamingEngines exports a generated 2,000,000-row table from
// MariaDB/MySQL and PostgreSQL through the pipeline: the row count is right
// and the Go heap stays under the SQLite test's bound (32 MiB).
func TestHeavyStreamingEngines(t *testing.T) {
	testsvc.Heavy(t)
	const rows = 2_000_000
	for _, engine := range []string{"mysql", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			start := time.Now()
			if engine == "postgres" {
				tdb.Exec(t, "CREATE TABLE big (id BIGINT PRIMARY KEY, name TEXT, price NUMERIC(10,2), created TIMESTAMP)")
				tdb.Exec(t, `INSERT INTO big SELECT g, 'item ' || g || ' ünïcode', (g % 1000) / 100.0,
					TIMESTAMP '2023-11-14 22:13:20' + g * INTERVAL '1 second' FROM generate_series(1, 2000000) g`)
			} else {
				tdb.Exec(t, "CREATE TABLE big (id BIGINT PRIMARY KEY, name VARCHAR(60), price DECIMAL(10,2), created DATETIME)")
				tdb.Exec(t, `INSERT INTO big SELECT seq, CONCAT('item ', seq, ' ünïcode'), (seq % 1000) / 100,
					TIMESTAMP '2023-11-14 22:13:20' + INTERVAL seq SECOND FROM seq_1_to_2000000`)
			}
			t.Logf("generated %d rows in %v", rows, time.Since(start))
			cfg := parseConfig(t, `version: 1
feeds:
  - name: big
    query: SELECT id, name, price, created FROM big ORDER BY id
    fields: {id: id, item.name: name, price: {column: price, type: decimal, scale: 2}, created: created}
    format: ndjson
`)
			store, dir := fileStore(t)
			r := &Runner{Config: cfg, DB: openDB(t, tdb.DSN), Store: store}
			start = time.Now()
			peak := sampleHeap(t, func() {
				res := runFeeds(t, r, t0)[0]
				if res.Status != StatusSuccess || res.Rows != rows {
					t.Fatalf("%+v", res)
				}
			})
			took := time.Since(start)
			t.Logf("%s: %d rows in %v (%.0f rows/s), peak Go heap %.1f MiB", engine, rows, took, rows/took.Seconds(), float64(peak)/(1<<20))
			if peak > 32<<20 {
				t.Fatalf("Go heap reached %.1f MiB, want ≤ 32 MiB", float64(peak)/(1<<20))
			}
			f, err := os.Open(filepath.Join(dir, "big", "latest.json"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var last []byte
			n := eachDoc(t, f, "ndjson", func(raw json.RawMessage) { last = raw })
			want := `{"id":2000000,"item":{"name":"item 2000000 ünïcode"},"price":0.00,"created":"2023-12-08T01:46:40Z"}`
			if n != rows || string(last) != want {
				t.Fatalf("parsed %d documents (last %s), want %d (last %s)", n, last, rows, want)
			}
		})
	}
}
