package main

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostileShrinkForce (issue 12, item 4): a run that loses more rows than
// max_shrink allows exits 1 naming the feed and the rule and writes nothing;
// --force needs the feeds it applies to, and publishes them.
func TestHostileShrinkForce(t *testing.T) {
	dir := inRepoRoot(t)
	path := filepath.Join(t.TempDir(), "items.db")
	w, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	exec("CREATE TABLE items (id INTEGER PRIMARY KEY)")
	exec("INSERT INTO items WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100) SELECT i FROM n")
	cfg := writeConfig(t, "version: 1\nfeeds:\n  - name: items\n    query: SELECT id FROM items ORDER BY id\n    fields: {id: id}\n    max_shrink: 0.5\n")
	args := []string{"run", "--json", "--config", cfg, "--db", "sqlite://" + path}
	if code, resp := runJSON(t, args...); code != exitOK || resp.Data.Feeds[0].Rows != 100 {
		t.Fatalf("first run: exit %d %+v", code, resp)
	}
	exec("DELETE FROM items WHERE id > 10")
	before := listing(t, dir)
	code, resp := runJSON(t, args...)
	if code != exitFailed || !strings.Contains(resp.Data.Feeds[0].Message, `feed "items": 10 documents, 90.0% fewer than the published version's 100, more than max_shrink 0.5 allows`) {
		t.Fatalf("shrunk run: exit %d %+v", code, resp)
	}
	sameListing(t, "refused run", before, listing(t, dir))
	if code, _, stderr := sqlfeed(t, append(args, "--force")...); code != exitUsage || !strings.Contains(stderr, "--force applies to the feeds named") {
		t.Fatalf("--force without a feed: exit %d %s", code, stderr)
	}
	if code, resp := runJSON(t, append(args, "--force", "items")...); code != exitOK || resp.Data.Feeds[0].Status != "success" || resp.Data.Feeds[0].Rows != 10 {
		t.Fatalf("--force items: exit %d %+v", code, resp)
	}
}
