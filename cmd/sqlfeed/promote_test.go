package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sqlfeed/sqlfeed/exporters"
)

// listing is every file under dir (the store's own folder too) with its
// content hash and modification time.
func listing(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		fi, _ := d.Info()
		sum := sha256.Sum256(b)
		out[p] = hex.EncodeToString(sum[:]) + " " + fi.ModTime().String()
		return nil
	})
	return out
}

func sameListing(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for k, v := range after {
		if before[k] != v {
			t.Errorf("%s: %s written", what, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			t.Errorf("%s: %s deleted", what, k)
		}
	}
}

func runJSON(t *testing.T, args ...string) (int, exporters.Response) {
	t.Helper()
	code, out, stderr := sqlfeed(t, args...)
	var resp exporters.Response
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("%q: exit %d, not the standard response: %v\n%s\n%s", args, code, err, out, stderr)
	}
	return code, resp
}

// TestPromoteAndDryRun: two versions of genres; --dry-run writes nothing;
// promote of the older one makes it current (latest.json its bytes) and check
// is clean; promote of an unknown version fails and changes nothing.
func TestPromoteAndDryRun(t *testing.T) {
	dir := inRepoRoot(t)
	src, _ := os.ReadFile("testdata/chinook.db")
	dbPath := filepath.Join(t.TempDir(), "chinook.db")
	if err := os.WriteFile(dbPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SQLFEED_DB", "sqlite://"+dbPath)
	u := "file://" + dir

	// --dry-run on an empty folder: reports a publish, writes nothing.
	before := listing(t, dir)
	code, resp := runJSON(t, "run", "--json", "--dry-run", "genres")
	if code != exitOK || resp.Data.Feeds[0].Status != exporters.StatusSuccess || resp.Data.Feeds[0].Rows != 25 || !strings.Contains(resp.Message, "dry run") {
		t.Fatalf("dry run: exit %d %+v", code, resp)
	}
	sameListing(t, "dry run on an empty folder", before, listing(t, dir))

	code, resp = runJSON(t, "run", "--json", "genres")
	if code != exitOK {
		t.Fatalf("run: %+v", resp)
	}
	v1 := resp.Data.Feeds[0].Version
	v1doc, _ := os.ReadFile(filepath.Join(dir, "genres", "latest.json"))

	w, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`UPDATE Genre SET Name = 'Rock (bad data)' WHERE GenreId = 1`); err != nil {
		t.Fatal(err)
	}
	w.Close()

	// --dry-run after a publish: reports the new content, writes nothing.
	before = listing(t, dir)
	code, resp = runJSON(t, "run", "--json", "--dry-run", "genres")
	if code != exitOK || resp.Data.Feeds[0].Status != exporters.StatusSuccess || resp.Data.Feeds[0].Version == v1 {
		t.Fatalf("dry run of changed content: %+v", resp)
	}
	sameListing(t, "dry run", before, listing(t, dir))

	code, resp = runJSON(t, "run", "--json", "genres")
	v2 := resp.Data.Feeds[0].Version
	if code != exitOK || v2 == v1 {
		t.Fatalf("second run: %+v", resp)
	}

	// An unknown version: exit 1, named clearly, nothing changed.
	before = listing(t, dir)
	code, resp = runJSON(t, "promote", "--json", "genres", "20200101T000000Z-deadbeef")
	if code != exitFailed || resp.Status != exporters.ResponseError || !strings.Contains(resp.Data.Feeds[0].Message, "not a kept version") ||
		!strings.Contains(resp.Data.Feeds[0].Message, v1) {
		t.Fatalf("promote of an unknown version: exit %d %+v", code, resp)
	}
	sameListing(t, "failed promote", before, listing(t, dir))
	if code, _, _ := sqlfeed(t, "promote", "genres"); code != exitUsage {
		t.Errorf("promote without a version: exit %d", code)
	}
	if code, _, _ := sqlfeed(t, "promote", "nope", v1); code != exitUsage {
		t.Errorf("promote of an unknown feed: exit %d", code)
	}

	// Promote v1: current again, latest.json is its document, check is clean.
	code, resp = runJSON(t, "promote", "--json", "genres", v1)
	if code != exitOK || resp.Data.Feeds[0].Status != exporters.StatusSuccess || resp.Data.Feeds[0].Version != v1 || resp.Data.Feeds[0].Rows != 25 {
		t.Fatalf("promote: exit %d %+v", code, resp)
	}
	var m exporters.Manifest
	b, _ := os.ReadFile(filepath.Join(dir, "genres", "manifest.json"))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Version != v1 || len(m.Versions) != 2 || m.Versions[0].Version != v1 || m.Versions[1].Version != v2 {
		t.Fatalf("manifest after promote: version %s, versions %+v", m.Version, m.Versions)
	}
	latest, _ := os.ReadFile(filepath.Join(dir, "genres", "latest.json"))
	if string(latest) != string(v1doc) || strings.Contains(string(latest), "bad data") {
		t.Fatal("latest.json is not the promoted version's document")
	}
	var idx exporters.Catalog
	b, _ = os.ReadFile(filepath.Join(dir, "index.json"))
	json.Unmarshal(b, &idx)
	if len(idx.Feeds) != 1 || idx.Feeds[0].Version != v1 {
		t.Errorf("index.json after promote: %+v", idx.Feeds)
	}
	if code, out, _ := sqlfeed(t, "check", u); code != exitOK {
		t.Fatalf("check after promote: exit %d\n%s", code, out)
	}
	// Promoting the current version again changes nothing.
	before = listing(t, dir)
	if code, resp = runJSON(t, "promote", "--json", "genres", v1); code != exitOK || !strings.Contains(resp.Data.Feeds[0].Message, "already current") {
		t.Fatalf("promote of the current version: %+v", resp)
	}
	sameListing(t, "promote of the current version", before, listing(t, dir))
}
