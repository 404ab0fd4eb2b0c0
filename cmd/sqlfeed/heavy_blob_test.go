package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// peakRSS runs the built sqlfeed with args under GNU time and returns its
// peak RSS in bytes and its JSON response's first feed.
func peakRSS(t *testing.T, bin string, args ...string) (int64, map[string]any) {
	t.Helper()
	timeBin := "/usr/bin/time"
	if _, err := os.Stat(timeBin); err != nil {
		testsvc.Missing(t, "GNU time", err, "apt-get install time")
	}
	cmd := exec.Command(timeBin, append([]string{"-v", bin}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sqlfeed %v: %v\n%s\n%s", args, err, stdout.Bytes(), tail(stderr.String()))
	}
	var resp struct {
		Status string
		Data   struct{ Feeds []map[string]any }
	}
	if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil || resp.Status != "success" || len(resp.Data.Feeds) != 1 {
		t.Fatalf("sqlfeed run: %v %s", err, stdout.Bytes())
	}
	m := regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no peak RSS from %s:\n%s", timeBin, tail(stderr.String()))
	}
	kb, _ := strconv.ParseInt(m[1], 10, 64)
	return kb << 10, resp.Data.Feeds[0]
}

// TestHeavyLargeValuesMemory: memory is bounded by bytes, not rows (issue
// 12, item 6): 600 rows of 1 MiB BLOBs stay under 128 MiB peak RSS and one
// 64 MiB BLOB costs at most 4.5× its size (288 MiB: the driver's copy, the
// row's, the base64 document), on SQLite and MariaDB, gzip and plain.
func TestHeavyLargeValuesMemory(t *testing.T) {
	testsvc.Heavy(t)
	bin := buildSqlfeed(t)
	mysql := testsvc.MySQL(t)
	// A 64 MiB value needs packets larger than testsvc's 64 MiB (connections opened from now on).
	mysql.Exec(t, "SET GLOBAL max_allowed_packet = GREATEST(@@global.max_allowed_packet, 134217728)")
	tests := []struct {
		name, dsn, query string
		rows             float64
		limit            int64
	}{
		{"sqlite 600 × 1 MiB", "sqlite://../../testdata/chinook.db",
			"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600) SELECT i AS id, randomblob(1048576) AS b FROM n", 600, 128 << 20},
		{"sqlite 1 × 64 MiB", "sqlite://../../testdata/chinook.db",
			"SELECT 1 AS id, randomblob(67108864) AS b", 1, 9 * 32 << 20},
		{"mariadb 600 × 1 MiB", mysql.DSN,
			"SELECT seq AS id, CAST(REPEAT(SHA2(seq, 256), 16384) AS BINARY) AS b FROM seq_1_to_600", 600, 128 << 20},
		{"mariadb 1 × 64 MiB", mysql.DSN,
			"SELECT 1 AS id, CAST(REPEAT(SHA2(1, 256), 1048576) AS BINARY) AS b", 1, 9 * 32 << 20},
	}
	for _, tt := range tests {
		for _, compress := range []string{"none", "gzip"} {
			t.Run(tt.name+" "+compress, func(t *testing.T) {
				cfg := filepath.Join(t.TempDir(), "blobs.yaml")
				if err := os.WriteFile(cfg, []byte(fmt.Sprintf("version: 1\nfeeds:\n  - name: blobs\n    compress: %s\n    query: %s\n    fields: {id: id, b: b}\n",
					compress, tt.query)), 0o644); err != nil {
					t.Fatal(err)
				}
				rss, f := peakRSS(t, bin, "run", "--json", "--config", cfg, "--db", tt.dsn, "--to", "file://"+t.TempDir())
				t.Logf("%s, compress %s: %v rows, %.0f MiB published; peak RSS %.1f MiB (limit %d MiB)",
					tt.name, compress, f["rows"], f["bytes"].(float64)/(1<<20), float64(rss)/(1<<20), tt.limit>>20)
				if f["rows"] != tt.rows {
					t.Fatalf("rows %v, want %v", f["rows"], tt.rows)
				}
				if rss > tt.limit {
					t.Fatalf("peak RSS %.1f MiB > %d MiB", float64(rss)/(1<<20), tt.limit>>20)
				}
			})
		}
	}
}
