package testsvc

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// RepoRoot returns the repository's root directory (found from this file).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// LoadChinook loads testdata/chinook/Chinook_MySql.sql or
// Chinook_PostgreSql.sql into db (its CREATE DATABASE, USE and \c lines are
// left out so the script fills db itself). MySQL reads the script with
// NO_BACKSLASH_ESCAPES so its data equals the SQLite and Postgres scripts'.
func (db *DB) LoadChinook(t testing.TB) {
	t.Helper()
	file := "Chinook_MySql.sql"
	if db.Engine == "postgres" {
		file = "Chinook_PostgreSql.sql"
	}
	raw, err := os.ReadFile(filepath.Join(RepoRoot(), "testdata", "chinook", file))
	if err != nil {
		t.Fatalf("chinook: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := db.Admin.Conn(ctx)
	if err != nil {
		t.Fatalf("chinook: %v", err)
	}
	defer conn.Close()
	if db.Engine == "mysql" {
		// The script's strings are standard SQL: a backslash is a backslash
		// ('Cavalleria Rusticana \ Act \ ...'), as on SQLite and Postgres.
		if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'"); err != nil {
			t.Fatalf("chinook: %v", err)
		}
	}
	for _, stmt := range scriptStatements(string(raw)) {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("chinook %s: %s: %v", db.Engine, truncate(stmt, 120), err)
		}
	}
}

// LoadChinook loads the Chinook script of engine into the fresh database dsn
// was made for; dsn must be the DSN of a DB from MySQL or Postgres.
func LoadChinook(t testing.TB, db *DB) { db.LoadChinook(t) }

// scriptStatements splits a SQL script into statements at lines ending with
// ";", dropping comments, database switching and client commands.
func scriptStatements(script string) []string {
	var out []string
	var cur strings.Builder
	inComment := false
	for _, line := range strings.Split(script, "\n") {
		trim := strings.TrimSpace(line)
		if inComment {
			if strings.Contains(trim, "*/") {
				inComment = false
			}
			continue
		}
		if strings.HasPrefix(trim, "/*") {
			inComment = !strings.Contains(trim, "*/")
			continue
		}
		upper := strings.ToUpper(trim)
		if cur.Len() == 0 && (trim == "" || strings.HasPrefix(trim, "--") || strings.HasPrefix(trim, `\`) ||
			strings.HasPrefix(upper, "USE ") || strings.HasPrefix(upper, "CREATE DATABASE") ||
			strings.HasPrefix(upper, "DROP DATABASE")) {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trim, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
