package exporters

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// TestPagedKeysEngines: on MariaDB and PostgreSQL, paged feeds keyed by an
// integer, a text (MariaDB: a case-insensitive collation) and a timestamp
// column add up to the unpaged feed byte for byte; text pages follow the
// database's collation, not byte order; a key the collation repeats fails.
func TestPagedKeysEngines(t *testing.T) {
	for _, engine := range []string{"mysql", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			if engine == "mysql" {
				tdb.Exec(t, "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(40) COLLATE utf8mb4_general_ci NOT NULL UNIQUE, at DATETIME NOT NULL UNIQUE) DEFAULT CHARSET utf8mb4")
				tdb.Exec(t, `INSERT INTO items SELECT seq, CONCAT(IF(seq % 2 = 0, 'Item', 'item'), LPAD(seq, 5, '0')),
					TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq MINUTE FROM seq_1_to_3000`)
			} else {
				tdb.Exec(t, `CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT COLLATE "C" NOT NULL UNIQUE, at TIMESTAMP NOT NULL UNIQUE)`)
				tdb.Exec(t, `INSERT INTO items SELECT g, CASE WHEN g % 2 = 0 THEN 'Item' ELSE 'item' END || LPAD(g::text, 5, '0'),
					TIMESTAMP '2024-01-01 00:00:00' + g * INTERVAL '1 minute' FROM generate_series(1, 3000) g`)
			}
			var feeds strings.Builder
			feeds.WriteString("version: 1\nfeeds:\n")
			for _, key := range []string{"id", "name", "at"} {
				for _, paged := range []bool{false, true} {
					name, pages := "plain-"+key, ""
					if paged {
						name, pages = "paged-"+key, fmt.Sprintf("\n    pages: {by: %s, rows: 100}", key)
					}
					fmt.Fprintf(&feeds, "  - name: %s\n    query: SELECT id, name, at FROM items ORDER BY %s\n    fields: {id: id, name: name, at: at}%s\n", name, key, pages)
				}
			}
			store, _ := fileStore(t)
			r := &Runner{Config: parseConfig(t, feeds.String()), DB: openDB(t, tdb.DSN), Store: store}
			for _, res := range runFeeds(t, r, t0) {
				if res.Status != StatusSuccess {
					t.Fatalf("%s: %s", res.Feed, res.Message)
				}
			}
			for _, key := range []string{"id", "name", "at"} {
				got, idx := pagedDoc(t, store, "paged-"+key)
				if want := readDoc(t, store, latestKey("plain-"+key)); !bytes.Equal(got, want) {
					t.Fatalf("%s: pages differ from the unpaged feed\n%s", key, firstDiff(got, want))
				}
				if len(idx.Pages) < 10 {
					t.Fatalf("%s: %d pages", key, len(idx.Pages))
				}
				var firsts []string
				for _, p := range idx.Pages {
					var v string
					json.Unmarshal(p.First, &v)
					firsts = append(firsts, v)
				}
				if key == "at" {
					if !slices.IsSorted(firsts) || !strings.HasSuffix(firsts[0], "Z") {
						t.Fatalf("timestamp keys %v", firsts[:3])
					}
				}
				if key == "name" {
					// PostgreSQL "C": byte order; MariaDB general_ci: case-insensitive.
					if sorted := slices.IsSorted(firsts); sorted != (engine == "postgres") {
						t.Fatalf("%s: text pages sorted by bytes: %v (%v…)", engine, sorted, firsts[:4])
					}
				}
			}
			if engine == "mysql" { // a repeated key fails the feed and publishes nothing
				tdb.Exec(t, "CREATE TABLE dup (name VARCHAR(20) COLLATE utf8mb4_general_ci)")
				tdb.Exec(t, "INSERT INTO dup VALUES ('a'), ('b'), ('b')")
				cfg := "version: 1\nfeeds:\n  - name: dup\n    query: SELECT name FROM dup ORDER BY name\n    fields: {name: name}\n    pages: {by: name}\n"
				r := &Runner{Config: parseConfig(t, cfg), DB: openDB(t, tdb.DSN), Store: store}
				if res := runFeeds(t, r, t0.Add(time.Hour))[0]; res.Status != StatusError || !strings.Contains(res.Message, "must be unique") {
					t.Fatalf("duplicate key: %+v", res)
				}
				if manifestOf(t, store, "dup") != nil {
					t.Fatal("a feed with a repeated key was published")
				}
			}
		})
	}
}
