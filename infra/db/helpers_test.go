package db_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
	"github.com/sqlfeed/sqlfeed/transform"
)

var engines = []string{"mysql", "postgres"}

// open opens the sqlfeed source for a test database.
func open(t testing.TB, tdb *testsvc.DB, opt db.Options) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), tdb.DSN, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// queryJSON runs q and returns each row as a JSON array of its columns in
// their natural kinds, plus the warnings counted.
func queryJSON(t testing.TB, d *db.DB, q string) ([]string, *transform.Env) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := d.Query(ctx, q)
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	defer c.Close()
	env := transform.NewEnv(time.UTC)
	var out []string
	var buf []byte
	for c.Next() {
		buf = append(buf[:0], '[')
		for i, v := range c.Row() {
			if i > 0 {
				buf = append(buf, ',')
			}
			col := c.Columns()[i]
			if buf, err = env.Append(buf, v, &col, transform.KindAny, -1); err != nil {
				t.Fatalf("column %s (%s): %v", col.Name, col.DBType, err)
			}
		}
		out = append(out, string(append(buf, ']')))
	}
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	return out, env
}

func TestChinookSmoke(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			tdb.LoadChinook(t)
			d := open(t, tdb, db.Options{})
			q := "SELECT TrackId, Name, UnitPrice, Milliseconds FROM Track ORDER BY TrackId LIMIT 2"
			if engine == "postgres" {
				q = `SELECT track_id AS "TrackId", name AS "Name", unit_price AS "UnitPrice", milliseconds AS "Milliseconds" FROM track ORDER BY track_id LIMIT 2`
			}
			rows, _ := queryJSON(t, d, q)
			got := strings.Join(rows, "\n")
			want := `[1,"For Those About To Rock (We Salute You)",0.99,343719]
[2,"Balls to the Wall",0.99,342562]`
			if got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
