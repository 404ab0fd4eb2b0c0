package db_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// TestSQLite: the SQLite source reads Chinook, describes a query without rows
// and rejects writes.
func TestSQLite(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, "sqlite://"+filepath.Join(testsvc.RepoRoot(), "testdata", "chinook.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for range 3 { // the connection is reused
		rows, _ := queryJSON(t, d, "SELECT TrackId, Name, UnitPrice FROM Track ORDER BY TrackId LIMIT 1")
		if got := strings.Join(rows, ""); got != `[1,"For Those About To Rock (We Salute You)",0.99]` {
			t.Fatalf("got %s", got)
		}
	}
	for _, q := range []string{"SELECT TrackId, Name FROM Track;\n", "SELECT TrackId, Name FROM Track -- every track"} {
		cols, err := d.Describe(ctx, q)
		if err != nil || len(cols) != 2 || cols[1].Name != "Name" {
			t.Fatalf("describe %q: %v %v", q, cols, err)
		}
	}
	for _, w := range []string{"DELETE FROM Track", "CREATE TABLE x (a)"} {
		c, err := d.Query(ctx, w)
		if err == nil {
			for c.Next() {
			}
			err = c.Err()
			c.Close()
		}
		if err == nil {
			t.Errorf("%s: accepted", w)
		}
	}
}
