package db_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// chinookJoin is a Chinook join per engine whose key column is TrackId.
var chinookJoin = map[string]string{
	"mysql": `SELECT t.TrackId, t.Name, a.Title AS AlbumTitle, ar.Name AS ArtistName
		FROM Track t JOIN Album a ON a.AlbumId = t.AlbumId JOIN Artist ar ON ar.ArtistId = a.ArtistId
		ORDER BY t.TrackId`,
	"postgres": `SELECT t.track_id AS "TrackId", t.name AS "Name", a.title AS "AlbumTitle", ar.name AS "ArtistName"
		FROM track t JOIN album a ON a.album_id = t.album_id JOIN artist ar ON ar.artist_id = a.artist_id
		ORDER BY t.track_id -- a trailing comment`,
}

// TestRangeQueryExplain: on MariaDB and PostgreSQL, a shard's range of a
// Chinook join, wrapped as SELECT * FROM (query) q WHERE by >= ? AND by < ?,
// reads the track table through its primary key's index, not a full scan,
// for a bounded range and for the open ranges at either end; and it returns
// exactly the range's rows, in key order.
func TestRangeQueryExplain(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			tdb.LoadChinook(t)
			d := open(t, tdb, db.Options{})
			if engine == "postgres" {
				tdb.Exec(t, "ANALYZE")
			} else {
				tdb.Exec(t, "ANALYZE TABLE Track, Album, Artist")
			}
			for _, c := range []struct{ lo, hi any }{{int64(1000), int64(1100)}, {nil, int64(50)}, {int64(3450), nil}} {
				q, args := db.RangeQuery(engine, chinookJoin[engine], "TrackId", c.lo, c.hi)
				plan := explain(t, d, engine, q, args)
				if engine == "postgres" {
					if strings.Contains(plan, "Seq Scan on track") || !strings.Contains(plan, "Index Scan using track_pkey on track") {
						t.Fatalf("range %v–%v does not read track through its index:\n%s", c.lo, c.hi, plan)
					}
				} else if !strings.Contains(plan, "t range PRIMARY") {
					t.Fatalf("range %v–%v does not read Track through its index:\n%s", c.lo, c.hi, plan)
				}
				rows, _ := queryArgs(t, d, q, args)
				lo, hi := int64(1), int64(3504)
				if c.lo != nil {
					lo = c.lo.(int64)
				}
				if c.hi != nil {
					hi = c.hi.(int64)
				}
				if int64(len(rows)) != hi-lo || rows[0] != lo || rows[len(rows)-1] != hi-1 {
					t.Fatalf("range %v–%v: %d rows, %d…%d", c.lo, c.hi, len(rows), rows[0], rows[len(rows)-1])
				}
			}
		})
	}
}

// explain returns the query plan as text: PostgreSQL's EXPLAIN lines, or
// MariaDB's "table type key" per row.
func explain(t *testing.T, d *db.DB, engine, q string, args []any) string {
	t.Helper()
	rows, err := d.X.Queryx("EXPLAIN "+q, args...)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		m := map[string]any{}
		if err := rows.MapScan(m); err != nil {
			t.Fatal(err)
		}
		if engine == "postgres" {
			out = append(out, str(m["QUERY PLAN"]))
		} else {
			out = append(out, str(m["table"])+" "+str(m["type"])+" "+str(m["key"]))
		}
	}
	return strings.Join(out, "\n")
}

func str(v any) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	case nil:
		return "NULL"
	}
	return ""
}

// queryArgs returns the first column (an integer key) of every row of q.
func queryArgs(t *testing.T, d *db.DB, q string, args []any) ([]int64, error) {
	t.Helper()
	c, err := d.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer c.Close()
	var keys []int64
	for c.Next() {
		keys = append(keys, c.Row()[0].(int64))
	}
	return keys, c.Err()
}

// TestRangeQuery: the range condition wraps the query (the key quoted as
// the query returns it), or binds the query's own :lo/:hi placeholders,
// each occurrence, outside strings, comments and PostgreSQL casts.
func TestRangeQuery(t *testing.T) {
	for _, c := range []struct {
		engine, query, by string
		lo, hi            any
		want              string
		args              []any
	}{
		{"mysql", "SELECT id FROM t ORDER BY id;", "id", int64(5), int64(9),
			"SELECT * FROM (SELECT id FROM t ORDER BY id\n) q WHERE `id` >= ? AND `id` < ? ORDER BY `id`", []any{int64(5), int64(9)}},
		{"postgres", `SELECT id AS "Id" FROM t -- c`, "Id", nil, "k",
			"SELECT * FROM (SELECT id AS \"Id\" FROM t -- c\n) q WHERE \"Id\" < $1 ORDER BY \"Id\"", []any{"k"}},
		{"sqlite", "SELECT id FROM t", `we"ird`, nil, nil,
			"SELECT * FROM (SELECT id FROM t\n) q ORDER BY \"we\"\"ird\"", nil},
		{"mysql", "SELECT id FROM t WHERE (:lo IS NULL OR id >= :lo) AND (:hi IS NULL OR id < :hi) AND s = ':lo' /* :hi */ LIMIT 9", "id", int64(1), nil,
			"SELECT id FROM t WHERE (? IS NULL OR id >= ?) AND (? IS NULL OR id < ?) AND s = ':lo' /* :hi */ LIMIT 9", []any{int64(1), int64(1), nil, nil}},
		{"postgres", "SELECT id FROM t WHERE id >= COALESCE(:lo::bigint, 0) AND (:hi::bigint IS NULL OR id < :hi) AND x::lo = 1", "id", int64(1), int64(2),
			"SELECT id FROM t WHERE id >= COALESCE($1::bigint, 0) AND ($2::bigint IS NULL OR id < $2) AND x::lo = 1", []any{int64(1), int64(2)}},
	} {
		q, args := db.RangeQuery(c.engine, c.query, c.by, c.lo, c.hi)
		if q != c.want || fmt.Sprint(args) != fmt.Sprint(c.args) {
			t.Errorf("%s %q:\n got %q %v\nwant %q %v", c.engine, c.query, q, args, c.want, c.args)
		}
	}
	if got := db.UnboundedQuery("postgres", "SELECT 1 WHERE :lo::int IS NULL AND ':hi' = ':hi' OR :hi IS NULL"); got != "SELECT 1 WHERE NULL::int IS NULL AND ':hi' = ':hi' OR NULL IS NULL" {
		t.Errorf("unbounded: %q", got)
	}
	if db.HasRangePlaceholders("mysql", "SELECT ':lo', `:hi` -- :lo") || !db.HasRangePlaceholders("sqlite", "SELECT 1 WHERE :hi") {
		t.Error("HasRangePlaceholders")
	}
}

// FuzzRangeQuery: binding placeholders never panics, keeps the text outside
// them, and binds as many arguments as the ? it writes (MySQL).
func FuzzRangeQuery(f *testing.F) {
	for _, s := range []string{"SELECT :lo, :hi", "SELECT ':lo' -- :hi\n, :lo::x", "/* :lo */ :hi:lo", "$a$ :lo $a$ :hi", "`:lo` \":hi\" [:lo]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		for _, engine := range []string{"mysql", "postgres", "sqlite"} {
			q, args := db.RangeQuery(engine, query, "k", int64(1), int64(2))
			if !db.HasRangePlaceholders(engine, query) {
				if !strings.Contains(q, query) && !strings.Contains(q, strings.TrimRight(strings.TrimSpace(query), "; \t\n")) {
					t.Fatalf("%s: wrapped query lost its text: %q", engine, q)
				}
				continue
			}
			if engine == "mysql" && strings.Count(q, "?")-strings.Count(query, "?") != len(args) {
				t.Fatalf("%q → %q binds %d args", query, q, len(args))
			}
			if u := db.UnboundedQuery(engine, query); db.HasRangePlaceholders(engine, u) && !strings.Contains(query, "::") {
				t.Fatalf("%q unbounded still has placeholders: %q", query, u)
			}
		}
	})
}
