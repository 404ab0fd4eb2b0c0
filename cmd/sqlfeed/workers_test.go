package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunWorkers: sqlfeed run --workers N exports a sharded feed N ranges at
// a time; the pages are the same files for any N, the plans and shard
// results go to the folder's .sqlfeed/state, and --workers 0 is a usage error.
func TestRunWorkers(t *testing.T) {
	inRepoRoot(t)
	cfg := writeConfig(t, `version: 1
feeds:
  - name: tracks-sharded
    query: SELECT TrackId, Name, Milliseconds FROM Track ORDER BY TrackId
    fields: {id: TrackId, name: Name, duration_ms: Milliseconds}
    pages: {by: TrackId, rows: 100}
    shards: 6
`)
	pages := map[int]string{}
	for _, workers := range []string{"1", "4"} {
		dir := t.TempDir()
		code, out, stderr := sqlfeed(t, "run", "--config", cfg, "--to", "file://"+dir, "--workers", workers)
		if code != exitOK {
			t.Fatalf("--workers %s: exit %d\n%s\n%s", workers, code, out, stderr)
		}
		var names []string
		entries, _ := os.ReadDir(filepath.Join(dir, "tracks-sharded", "pages"))
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(dir, "tracks-sharded", "pages", e.Name()))
			names = append(names, e.Name()+string(b[:10]))
		}
		if len(names) < 20 {
			t.Fatalf("--workers %s: %d pages", workers, len(names))
		}
		pages[len(pages)] = strings.Join(names, "\n")
		plans, _ := filepath.Glob(filepath.Join(dir, ".sqlfeed", "state", "tracks-sharded", "*", "plan.json"))
		shards, _ := filepath.Glob(filepath.Join(dir, ".sqlfeed", "state", "tracks-sharded", "*", "shard-*.json"))
		if len(plans) != 1 || len(shards) != 6 {
			t.Fatalf("--workers %s: state holds %d plans, %d shard results", workers, len(plans), len(shards))
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "index.json")); !bytes.Contains(b, []byte(`"tracks-sharded"`)) {
			t.Fatalf("catalog lacks the sharded feed: %s", b)
		}
	}
	if pages[0] != pages[1] {
		t.Fatal("--workers 1 and 4 stored different pages")
	}
	dry := t.TempDir()
	if code, out, stderr := sqlfeed(t, "run", "--config", cfg, "--to", "file://"+dry, "--workers", "2", "--dry-run"); code != exitOK || !strings.Contains(out, "dry run") {
		t.Fatalf("--dry-run: exit %d\n%s\n%s", code, out, stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(dry, "[a-z]*")); len(left) > 0 {
		t.Fatalf("--dry-run wrote %v", left)
	}
	if state, _ := filepath.Glob(filepath.Join(dry, ".sqlfeed", "state", "*")); len(state) > 0 {
		t.Fatalf("--dry-run left state %v", state)
	}
	if code, _, stderr := sqlfeed(t, "run", "--config", cfg, "--workers", "0"); code != exitUsage || !strings.Contains(stderr, "--workers 0") {
		t.Fatalf("--workers 0: exit %d %s", code, stderr)
	}
}
