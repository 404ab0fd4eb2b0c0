package exporters

import (
	"context"
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
			exportBig(t, tdb.DSN, rows,
				`{"id":2000000,"item":{"name":"item 2000000 ünïcode"},"price":0.00,"created":"2023-12-08T01:46:40Z"}`)
		})
	}
}
