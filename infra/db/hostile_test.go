package db_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
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

// TestHostileServerOneStatement: beneath the statement check, the servers
// themselves run one statement per query for every DSN sqlfeed accepts (the
// raw pool has the same configuration as the cursors), and the DSNs that
// would allow more are refused.
func TestHostileServerOneStatement(t *testing.T) {
	ctx := context.Background()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			tdb.Exec(t, "CREATE TABLE victim (id INT PRIMARY KEY)")
			tdb.Exec(t, "INSERT INTO victim VALUES (1), (2)")
			sep := map[bool]string{true: "&", false: "?"}[strings.Contains(tdb.DSN, "?")]
			params := []string{"", "multiStatements=false"}
			refused := []string{"multiStatements=true", "multiStatements=1", "interpolateParams=true&multiStatements=true"}
			if engine == "postgres" {
				params = []string{"", "default_query_exec_mode=exec", "default_query_exec_mode=describe_exec", "default_query_exec_mode=cache_describe"}
				refused = []string{"default_query_exec_mode=simple_protocol"}
			}
			for _, p := range refused {
				if _, err := db.Open(ctx, tdb.DSN+sep+p, db.Options{}); err == nil || !strings.Contains(err.Error(), "refused") {
					t.Errorf("%s: open: %v, want refused", p, err)
				}
			}
			for _, p := range params {
				dsn := tdb.DSN
				if p != "" {
					dsn += sep + p
				}
				d := open(t, tdb, db.Options{})
				if p != "" {
					var err error
					if d, err = db.Open(ctx, dsn, db.Options{}); err != nil {
						t.Fatal(err)
					}
				}
				rows, err := d.X.QueryContext(ctx, "SELECT 1; DELETE FROM victim; SELECT 2")
				if err == nil {
					for rows.Next() {
					}
					err = rows.Err()
					for rows.NextResultSet() {
						for rows.Next() {
						}
					}
					rows.Close()
				}
				d.Close()
				var n int
				if cerr := tdb.Admin.QueryRowContext(ctx, "SELECT count(*) FROM victim").Scan(&n); cerr != nil || n != 2 || err == nil {
					t.Errorf("%q: query error %v; victim has %d rows (%v), want an error and 2", p, err, n, cerr)
				}
			}
		})
	}
}
