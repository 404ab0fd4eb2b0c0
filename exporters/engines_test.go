package exporters

import (
	"context"
	"testing"

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
