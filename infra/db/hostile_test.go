package db_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/db"
)

// TestHostileSQLiteAuthorizer: even through the raw pool (no statement
// check), a SQLite connection cannot ATTACH, leave query_only, commit or
// write, and it still reads afterwards.
func TestHostileSQLiteAuthorizer(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	path := filepath.Join(tmp, "source.db")
	w, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Exec("CREATE TABLE victim (id INTEGER PRIMARY KEY); INSERT INTO victim VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(ctx, "sqlite://"+path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	z := filepath.Join(tmp, "z.db")
	for _, stmt := range []string{
		"ATTACH '" + z + "' AS z",
		"PRAGMA query_only = 0",
		"COMMIT",
		"CREATE TEMP TABLE t (a)",
		"DELETE FROM victim",
		"SELECT load_extension('x')",
	} {
		if _, err := d.X.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "not authorized") {
			t.Errorf("%s: %v, want not authorized", stmt, err)
		}
	}
	if _, err := os.Stat(z); !os.IsNotExist(err) {
		t.Fatalf("ATTACH created %s (%v)", z, err)
	}
	rows, _ := queryJSON(t, d, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2) SELECT count(*) FROM victim JOIN n ON n.i = victim.id")
	if got := strings.Join(rows, ""); got != "[2]" {
		t.Fatalf("after the refusals the connection reads %s, want [2]", got)
	}
}
