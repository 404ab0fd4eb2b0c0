package exporters

import (
	"context"
	"strings"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// failsPublishingNothing runs the only feed of config against dsn into a fresh
// folder and checks that it failed with an error containing every string of
// want, and that no version, latest.json or manifest was written. It returns
// the error message.
func failsPublishingNothing(t *testing.T, dsn, config string, want ...string) string {
	t.Helper()
	cfg := parseConfig(t, config)
	store, dir := fileStore(t)
	r := &Runner{Config: cfg, DB: openDB(t, dsn), Store: store}
	res := runFeeds(t, r, t0)
	if len(res) != 1 || res[0].Status != StatusError {
		t.Fatalf("want one failed feed, got %+v", res)
	}
	for _, w := range want {
		if !strings.Contains(res[0].Message, w) {
			t.Errorf("error %q does not contain %q", res[0].Message, w)
		}
	}
	if keys := listKeys(t, store, cfg.Feeds[0].Name+"/"); len(keys) > 0 {
		t.Errorf("a failed run published %v", keys)
	}
	assertNoTemp(t, dir)
	return res[0].Message
}

// validateError returns ValidateFeed's error for the only feed of config.
func validateError(t *testing.T, dsn, config string) error {
	t.Helper()
	cfg := parseConfig(t, config)
	return ValidateFeed(context.Background(), openDB(t, dsn), cfg.Feeds[0], nil)
}

// TestHostileJSONColumnSQLite: SQLite validates nothing in a column declared
// JSON, and `type: json` on text is the user's claim, not the server's: such
// text is checked strictly, so it can neither add keys to a document nor
// break the feed's JSON. Nothing is published and the error names the column
// and the row.
func TestHostileJSONColumnSQLite(t *testing.T) {
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	tests := []struct {
		name, decl, value string
		typeJSON          bool
	}{
		{"extra key in a JSON column", "JSON", `1,"admin":true`, false},
		{"not JSON in a JSON column", "JSON", `not json at all`, false},
		{"leading zero", "TEXT", `{"a":01}`, true},
		{"raw control character", "TEXT", "{\"a\":\"x\x01y\"}", true},
		{"100,000-deep array", "TEXT", deep, true},
		{"two values", "TEXT", `{} {}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn, w := scratchDB(t, "CREATE TABLE t (id INTEGER PRIMARY KEY, doc "+tt.decl+")")
			if _, err := w.Exec(`INSERT INTO t VALUES (1, '{"ok": [true]}'), (2, ?)`, tt.value); err != nil {
				t.Fatal(err)
			}
			field := "doc: doc"
			if tt.typeJSON {
				field = "doc: {column: doc, type: json}"
			}
			failsPublishingNothing(t, dsn, `version: 1
feeds:
  - name: docs
    query: SELECT id, doc FROM t ORDER BY id
    fields: {id: id, `+field+`}
`, `row 2`, `column "doc"`, "invalid JSON")
		})
	}
}

// TestHostileDuplicateColumns: two result columns with the same name (after
// aliasing) are refused when the mapper binds, for every mapper, by `run`
// and by `validate --db` alike, on SQLite and MariaDB.
func TestHostileDuplicateColumns(t *testing.T) {
	mariadb := testsvc.MySQL(t)
	mariadb.Exec(t, "CREATE TABLE a (id INT PRIMARY KEY, name VARCHAR(10), b_id INT)")
	mariadb.Exec(t, "CREATE TABLE b (id INT PRIMARY KEY, name VARCHAR(10))")
	mariadb.Exec(t, "INSERT INTO a VALUES (1, 'A1', 1)")
	mariadb.Exec(t, "INSERT INTO b VALUES (1, 'B1')")
	lite, _ := scratchDB(t, "CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT, b_id INT)",
		"CREATE TABLE b (id INTEGER PRIMARY KEY, name TEXT)",
		"INSERT INTO a VALUES (1, 'A1', 1)", "INSERT INTO b VALUES (1, 'B1')")
	// Aliased so that the Go mapper artist-card finds its columns too.
	const query = "SELECT a.id AS ArtistId, a.name AS Name, b.name AS Name, 1 AS Albums FROM a JOIN b ON b.id = a.b_id ORDER BY a.id"
	mappers := map[string]string{
		"raw":         "mapper: raw",
		"fields":      "fields: {id: ArtistId, name: Name}",
		"group":       "mapper: group\n    fields: {id: ArtistId}\n    group: {by: ArtistId, into: names, fields: {name: Name}}",
		"artist-card": "mapper: artist-card",
	}
	for engine, dsn := range map[string]string{"sqlite": lite, "mariadb": mariadb.DSN} {
		for name, mapper := range mappers {
			t.Run(engine+"/"+name, func(t *testing.T) {
				config := "version: 1\nfeeds:\n  - name: dup\n    query: " + query + "\n    " + mapper + "\n"
				failsPublishingNothing(t, dsn, config, `"Name"`)
				err := validateError(t, dsn, config)
				if err == nil || !strings.Contains(err.Error(), "Name") || !strings.Contains(strings.ToLower(err.Error()), "duplicate") {
					t.Errorf("validate --db: %v, want a duplicate column error naming Name", err)
				}
			})
		}
	}
}

// TestHostileStringNaNPostgres: `type: string` publishes NaN and ±Infinity of
// float8 and numeric as null, counted as warnings, as their own types do.
func TestHostileStringNaNPostgres(t *testing.T) {
	pg := testsvc.Postgres(t)
	pg.Exec(t, "CREATE TABLE v (id INT PRIMARY KEY, f FLOAT8 NOT NULL, n NUMERIC NOT NULL)")
	pg.Exec(t, "INSERT INTO v VALUES (1, 'NaN', 'NaN'), (2, '-Infinity', 'Infinity'), (3, 1.5, 2.50)")
	cfg := parseConfig(t, `version: 1
feeds:
  - name: nan
    query: SELECT id, f, n FROM v ORDER BY id
    fields: {id: id, f: {column: f, type: string}, n: {column: n, type: string}}
`)
	store, _ := fileStore(t)
	r := &Runner{Config: cfg, DB: openDB(t, pg.DSN), Store: store}
	res := runFeeds(t, r, t0)
	if res[0].Status != StatusSuccess || res[0].Warnings != 4 {
		t.Fatalf("want success with 4 warnings, got %+v", res[0])
	}
	want := `[{"id":1,"f":null,"n":null},{"id":2,"f":null,"n":null},{"id":3,"f":"1.5","n":"2.50"}]`
	if got := strings.Join(strings.Fields(string(readDoc(t, store, latestKey("nan")))), ""); got != want {
		t.Errorf("published %s, want %s", got, want)
	}
}

// TestHostileGroupKeyComesBack: a group key that comes back after its group
// ended fails the feed (it would publish two documents with the same key),
// naming the key and the feed; text keys in a collation's order that is not
// byte order are fine.
func TestHostileGroupKeyComesBack(t *testing.T) {
	dsn, _ := scratchDB(t, "CREATE TABLE r (pos INTEGER PRIMARY KEY, k INT, s TEXT, item TEXT)",
		`INSERT INTO r VALUES (1, 1, 'apple', 'x'), (2, 1, 'apple', 'y'), (3, 2, 'Banana', 'z'),
			(4, 1, 'apple', 'w'), (5, 3, 'cherry', 'v')`)
	feed := func(by, order string) string {
		return `version: 1
feeds:
  - name: grouped
    query: SELECT ` + by + ` AS k, item FROM r ORDER BY ` + order + `
    mapper: group
    fields: {key: k}
    group: {by: k, into: items, fields: {item: item}}
`
	}
	t.Run("integer key", func(t *testing.T) {
		failsPublishingNothing(t, dsn, feed("k", "pos"), "row 4", `feed "grouped"`, "group key 1", "ORDER BY")
	})
	t.Run("text key", func(t *testing.T) {
		failsPublishingNothing(t, dsn, feed("s", "pos"), "row 4", `feed "grouped"`, `group key "apple"`)
	})
	t.Run("text key in NOCASE order", func(t *testing.T) {
		cfg := parseConfig(t, feed("s", "s COLLATE NOCASE, pos"))
		store, _ := fileStore(t)
		res := runFeeds(t, &Runner{Config: cfg, DB: openDB(t, dsn), Store: store}, t0)
		if res[0].Status != StatusSuccess || res[0].Rows != 3 {
			t.Fatalf("want 3 documents published, got %+v", res[0])
		}
	})
}

// TestHostileServerJSON: JSON the server validated (PostgreSQL jsonb) is
// embedded with U+2028/U+2029 escaped, like text, and still within the
// nesting limit; so is MariaDB's JSON (text: `type: json`, checked strictly).
func TestHostileServerJSON(t *testing.T) {
	for engine, typ := range map[string]string{"postgres": "JSONB", "mysql": "JSON"} {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			tdb.Exec(t, "CREATE TABLE d (id INT PRIMARY KEY, doc "+typ+", s VARCHAR(10))")
			tdb.Exec(t, "INSERT INTO d VALUES (1, '{\"a\": \"x\u2028y\u2029\"}', 'p\u2028q')")
			config := `version: 1
feeds:
  - name: sep
    query: SELECT id, doc, s FROM d ORDER BY id
    fields: {id: id, doc: {column: doc, type: json}, s: s}
`
			cfg := parseConfig(t, config)
			store, _ := fileStore(t)
			res := runFeeds(t, &Runner{Config: cfg, DB: openDB(t, tdb.DSN), Store: store}, t0)
			if res[0].Status != StatusSuccess {
				t.Fatalf("%+v", res[0])
			}
			want := `[{"id":1,"doc":{"a":"x\u2028y\u2029"},"s":"p\u2028q"}]`
			if got := strings.ReplaceAll(string(readDoc(t, store, latestKey("sep"))), "\n", ""); got != want {
				t.Errorf("published %s, want %s", got, want)
			}
			if engine == "postgres" { // MySQL refuses JSON nested deeper than 100 by itself
				tdb.Exec(t, "INSERT INTO d VALUES (2, '"+strings.Repeat("[", 200)+strings.Repeat("]", 200)+"', 'x')")
				failsPublishingNothing(t, tdb.DSN, config, "row 2", `column "doc"`, "nested deeper than 128")
			}
		})
	}
}
