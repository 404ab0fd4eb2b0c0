package db_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// TestHostileDescribeSQLiteNames: Describe reports the names a SQLite query
// returns, not the renamed ones of its wrapping subquery (a, a → a, a:1), so
// that validate --db sees a duplicate name as a run does.
func TestHostileDescribeSQLiteNames(t *testing.T) {
	d, err := db.Open(context.Background(), "sqlite://"+filepath.Join(testsvc.RepoRoot(), "testdata", "chinook.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cols, err := d.Describe(context.Background(), `SELECT 1 AS "x:1", 2 AS a, 3 AS A, 4 AS a, 5 AS "b:2", 6 AS "a:"`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"x:1", "a", "A", "a", "b:2", "a:"}
	for i, c := range cols {
		if i >= len(want) || c.Name != want[i] {
			t.Fatalf("column %d is %q, want %v", i, c.Name, want)
		}
	}
}
