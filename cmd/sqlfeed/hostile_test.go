package main

import (
	"context"
	"database/sql"
	"fmt"
	"hash/crc32"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// hostileConfig is one feed running query (a YAML block scalar).
func hostileConfig(t *testing.T, query string) string {
	return writeConfig(t, "version: 1\nfeeds:\n  - name: attack\n    query: |\n      "+query+"\n    fields: {one: one}\n")
}

// assertNothingPublished fails when dir holds anything but sqlfeed's state.
func assertNothingPublished(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != ".sqlfeed" {
			t.Fatalf("a refused run published %s", e.Name())
		}
	}
}

// countRows returns SELECT count(*) FROM victim on admin.
func countRows(t *testing.T, admin *sql.DB) int {
	t.Helper()
	var n int
	if err := admin.QueryRowContext(context.Background(), "SELECT count(*) FROM victim").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHostileQueries: a query of several statements, whatever the DSN
// allows, runs none of them (issue 12, item 3), and a statement without a
// result set is refused before its side effect (item 4): the rows stay, no
// file is written ({path} in a query is a fresh path in /tmp, where the server
// may write), nothing is published and the error names the rule.
func TestHostileQueries(t *testing.T) {
	tests := []struct {
		engine, param, query, want string
	}{
		{"mysql", "", "COMMIT; SET SESSION tx_read_only=0; DELETE FROM victim; SELECT 1 AS one", "one statement"},
		{"mysql", "multiStatements=true", "COMMIT; SET SESSION tx_read_only=0; DELETE FROM victim; SELECT 1 AS one", "multiStatements=true is refused"},
		{"mysql", "multiStatements=true", "SELECT 1 AS one /*!; DELETE FROM victim */", "one statement"},
		{"postgres", "", "COMMIT; DELETE FROM victim; SELECT 1 AS one", "one statement"},
		{"postgres", "default_query_exec_mode=simple_protocol", "COMMIT; DELETE FROM victim; SELECT 1 AS one", "simple_protocol is refused"},
		{"postgres", "default_query_exec_mode=exec", "COMMIT; DELETE FROM victim; SELECT 1 AS one", "one statement"},
		{"mysql", "", "SELECT 1 AS one FROM victim INTO OUTFILE '{path}'", "INTO is not allowed"},
		{"mysql", "", "SELECT 1 AS one /*!INTO DUMPFILE '{path}' */", "INTO is not allowed"},
		{"postgres", "", "COPY (SELECT 1 AS one) TO PROGRAM 'touch {path}'", "query refused: it starts with"},
		{"postgres", "", "SELECT FROM victim", "no result set"},
	}
	for _, tt := range tests {
		t.Run(tt.engine+" "+tt.param+" "+tt.query, func(t *testing.T) {
			tdb := testsvc.Engines[tt.engine](t)
			tdb.Exec(t, "CREATE TABLE victim (id INT PRIMARY KEY)")
			tdb.Exec(t, "INSERT INTO victim VALUES (1), (2), (3)")
			dsn := tdb.DSN
			if tt.param != "" {
				dsn += map[bool]string{true: "&", false: "?"}[strings.Contains(dsn, "?")] + tt.param
			}
			file := filepath.Join(os.TempDir(), "sqlfeed-"+tdb.Name)
			t.Cleanup(func() { os.Remove(file) })
			query := strings.ReplaceAll(tt.query, "{path}", file)
			dir := t.TempDir()
			code, out, errOut := sqlfeed(t, "run", "--json", "--config", hostileConfig(t, query), "--db", dsn, "--to", "file://"+dir)
			if _, err := os.Stat(file); !os.IsNotExist(err) {
				t.Fatalf("the server wrote %s (%v)", file, err)
			}
			if n := countRows(t, tdb.Admin); n != 3 {
				t.Fatalf("victim has %d rows after the run, want 3", n)
			}
			assertNothingPublished(t, dir)
			if code != exitFailed || !strings.Contains(out+errOut, tt.want) {
				t.Fatalf("exit %d, output:\n%s%s\nwant exit %d and %q", code, out, errOut, exitFailed, tt.want)
			}
		})
	}
}

// TestHostileSQLiteAttach: SQLite runs every statement of a string; the
// attack that attached and wrote a new database file is refused, and so are
// its single statements (ATTACH, leaving query_only, COMMIT).
func TestHostileSQLiteAttach(t *testing.T) {
	tmp := t.TempDir()
	path := filepath.Join(tmp, "source.db")
	w, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, s := range []string{"CREATE TABLE victim (id INTEGER PRIMARY KEY)", "INSERT INTO victim VALUES (1), (2), (3)"} {
		if _, err := w.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	z := filepath.Join(tmp, "z.db")
	tests := []struct{ query, want string }{
		{fmt.Sprintf("COMMIT; ATTACH '%s' AS z; CREATE TABLE z.t(a); SELECT 1 AS one", z), "one statement"},
		{fmt.Sprintf("SELECT 1 AS one; ATTACH '%s' AS z", z), "one statement"},
		{"SELECT 1 AS one; DELETE FROM victim", "one statement"},
		{fmt.Sprintf("ATTACH '%s' AS z", z), "query refused"},
		{"PRAGMA query_only = 0", "query refused"},
		{"SELECT 1 AS one FROM pragma_query_only WHERE 0; DELETE FROM victim; -- x", "one statement"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			os.Remove(z)
			dir := t.TempDir()
			code, out, errOut := sqlfeed(t, "run", "--json", "--config", hostileConfig(t, tt.query), "--db", "sqlite://"+path, "--to", "file://"+dir)
			if _, err := os.Stat(z); !os.IsNotExist(err) {
				t.Fatalf("the run created %s (%v)", z, err)
			}
			if n := countRows(t, w); n != 3 {
				t.Fatalf("victim has %d rows after the run, want 3", n)
			}
			assertNothingPublished(t, dir)
			if code != exitFailed || !strings.Contains(out+errOut, tt.want) {
				t.Fatalf("exit %d, output:\n%s%s\nwant exit %d and %q", code, out, errOut, exitFailed, tt.want)
			}
		})
	}
}

// TestHostileDSNPassword: a password given anywhere in a DSN (user
// information or a parameter, any case) appears in no output of run --json,
// validate or the log (issue 12, item 5).
func TestHostileDSNPassword(t *testing.T) {
	inRepoRoot(t)
	const secret = "TopSecret123"
	for _, dsn := range []string{
		"postgres://nosuchuser@127.0.0.1:5432/test?password=" + secret + "&sslmode=disable",
		"postgres://nosuchuser@127.0.0.1:5432/test?sslmode=disable&PassWord=" + secret,
		"postgres://nosuchuser@127.0.0.1:5432/test?sslmode=disable&sslpassword=" + secret + "&password=" + secret,
		"postgres://nosuchuser:" + secret + "@127.0.0.1:5432/test?sslmode=disable",
		"postgres://nosuchuser@127.0.0.1:1/test?password=" + secret,
		"mysql://nosuchuser@127.0.0.1:3306/test?password=" + secret,
		"mysql://nosuchuser:" + secret + "@127.0.0.1:3306/test",
		"mysql://nosuchuser:" + secret + "@127.0.0.1:1/test?passwd=" + secret,
	} {
		for _, args := range [][]string{{"run", "--json", "genres"}, {"validate"}} {
			code, out, errOut := sqlfeed(t, append(args, "--db", dsn)...)
			if code == exitOK || strings.Contains(out+errOut, secret) || !strings.Contains(out+errOut, "127.0.0.1") {
				t.Errorf("%s %s: exit %d, output:\n%s%s", args[0], db.Redact(dsn), code, out, errOut)
			}
		}
	}
}

// TestHostileValidateWarnsWriter: validate --db warns (and still passes)
// when the configured user can write — root and postgres can — and stays
// quiet for a SELECT-only user.
func TestHostileValidateWarnsWriter(t *testing.T) {
	cfg := writeConfig(t, "version: 1\nfeeds:\n  - name: one\n    query: SELECT id AS one FROM victim\n    fields: {one: one}\n")
	for _, engine := range []string{"mysql", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			tdb.Exec(t, "CREATE TABLE victim (id INT PRIMARY KEY)")
			user := fmt.Sprintf("sqlfeed_ro_%08x", crc32.ChecksumIEEE([]byte(tdb.Name)))
			u, err := url.Parse(tdb.DSN)
			if err != nil {
				t.Fatal(err)
			}
			u.User = url.User(user)
			if engine == "mysql" {
				tdb.Exec(t, "CREATE USER '"+user+"'@'%'")
				t.Cleanup(func() { tdb.Exec(t, "DROP USER '"+user+"'@'%'") })
				tdb.Exec(t, "GRANT SELECT ON `"+tdb.Name+"`.* TO '"+user+"'@'%'")
			} else {
				tdb.Exec(t, "CREATE ROLE "+user+" LOGIN")
				t.Cleanup(func() { tdb.Exec(t, "DROP OWNED BY "+user); tdb.Exec(t, "DROP ROLE "+user) })
				tdb.Exec(t, "GRANT SELECT ON victim TO "+user)
			}
			for _, tt := range []struct {
				dsn  string
				warn bool
			}{{tdb.DSN, true}, {u.String(), false}} {
				code, out, errOut := sqlfeed(t, "validate", "--config", cfg, "--db", tt.dsn)
				warned := strings.Contains(errOut, "warning: the database user can write")
				if code != exitOK || warned != tt.warn || !strings.Contains(out, "1 feeds ok") {
					t.Errorf("%s: exit %d, warning %v (want %v):\n%s%s", db.Redact(tt.dsn), code, warned, tt.warn, out, errOut)
				} else {
					t.Logf("%s: %s", db.Redact(tt.dsn), strings.TrimSpace(errOut))
				}
			}
		})
	}
}
