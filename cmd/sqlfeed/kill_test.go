package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestKilledRunTempRemoved: `sqlfeed run` killed with SIGKILL in the middle
// of a big upload to a folder leaves its temporary file; the next run removes
// it and publishes (issue 11, defect 4).
func TestKilledRunTempRemoved(t *testing.T) {
	bin := buildSqlfeed(t)
	dir := t.TempDir()
	cfg := writeConfig(t, `version: 1
feeds:
  - name: big
    query: |
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000000)
      SELECT i AS Id, printf('%.100c', 'x') AS Name FROM n
    fields: {id: Id, name: Name}
`+oneFeed[len("version: 1\nfeeds:\n"):])
	tmp := filepath.Join(dir, ".sqlfeed", "tmp")
	cmd := exec.Command(bin, "run", "--config", cfg, "--db", "sqlite://../../testdata/chinook.db", "--to", "file://"+dir, "big")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for size := int64(0); size < 8<<20; {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the upload never grew to 8 MiB")
		}
		time.Sleep(20 * time.Millisecond)
		entries, _ := os.ReadDir(tmp)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil {
				size = max(size, fi.Size())
			}
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if left, _ := os.ReadDir(tmp); len(left) != 1 {
		t.Fatalf("after SIGKILL: %d temporary files, want the dead run's one", len(left))
	}
	time.Sleep(2100 * time.Millisecond) // the age a temp file needs to count as a dead run's
	out, err := exec.Command(bin, "run", "--config", cfg, "--db", "sqlite://../../testdata/chinook.db", "--to", "file://"+dir, "genres").CombinedOutput()
	if err != nil {
		t.Fatalf("next run: %v\n%s", err, out)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("after the next run: %v left in %s", left, tmp)
	}
	if _, err := os.Stat(filepath.Join(dir, "genres", "latest.json")); err != nil {
		t.Fatal(err)
	}
}
