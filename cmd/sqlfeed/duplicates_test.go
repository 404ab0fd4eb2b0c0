package main

import (
	"strings"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// TestHostileDuplicateColumnsCLI: `sqlfeed run` and `sqlfeed validate --db`
// agree on a query that returns two columns with the same name: both refuse
// it, naming the column, on SQLite and MariaDB.
func TestHostileDuplicateColumnsCLI(t *testing.T) {
	mariadb := testsvc.MySQL(t)
	mariadb.Exec(t, "CREATE TABLE Genre (GenreId INT PRIMARY KEY, Name VARCHAR(20))")
	mariadb.Exec(t, "CREATE TABLE MediaType (MediaTypeId INT PRIMARY KEY, Name VARCHAR(20))")
	mariadb.Exec(t, "INSERT INTO Genre VALUES (1, 'Rock')")
	mariadb.Exec(t, "INSERT INTO MediaType VALUES (1, 'MPEG')")
	dir := inRepoRoot(t)
	config := writeConfig(t, `version: 1
feeds:
  - name: dup
    query: SELECT g.GenreId, g.Name, m.Name FROM Genre g JOIN MediaType m ON m.MediaTypeId = g.GenreId ORDER BY 1
    mapper: raw
`)
	for engine, dsn := range map[string]string{"sqlite": "sqlite://testdata/chinook.db", "mariadb": mariadb.DSN} {
		t.Run(engine, func(t *testing.T) {
			for _, cmd := range []struct {
				name string
				code int
			}{{"run", exitFailed}, {"validate", exitUsage}} {
				code, out, errOut := sqlfeed(t, cmd.name, "--config", config, "--db", dsn)
				msg := strings.ToLower(out + errOut)
				if code != cmd.code || !strings.Contains(msg, "duplicate column name") || !strings.Contains(msg, "name") {
					t.Errorf("%s: exit %d (want %d), output:\n%s%s", cmd.name, code, cmd.code, out, errOut)
				}
			}
		})
	}
	for p := range listing(t, dir) {
		if strings.Contains(p, "/dup/") {
			t.Fatalf("a refused feed published %s", p)
		}
	}
}
