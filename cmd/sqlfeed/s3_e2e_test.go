package main

// The sqlfeed binary publishing to S3 (MinIO), as an operator runs it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// buildSqlfeed builds the command (without -race, as shipped) into a temp dir.
func buildSqlfeed(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sqlfeed")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The run's wall-clock time shows in version names and generated_at.
var (
	versionTime = regexp.MustCompile(`\d{8}T\d{6}Z-[0-9a-f]{8}`)
	isoTime     = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?Z?`) // JSON and index.html
)

func normalize(s string) string {
	return isoTime.ReplaceAllString(versionTime.ReplaceAllString(s, "VERSION"), "TIME")
}

// TestRunToS3SameAsFolder: `sqlfeed run --to s3://feeds/public` publishes
// the demo feeds with the same keys and bytes as `--to file://DIR` (up to the
// run's time in version names and generated_at).
func TestRunToS3SameAsFolder(t *testing.T) {
	m := testsvc.StartMinIO(t)
	bin := buildSqlfeed(t)
	dir := t.TempDir()
	for _, to := range []string{m.URL(), "file://" + dir} {
		cmd := exec.Command(bin, "run", "--config", "../../sqlfeed.yaml", "--db", "sqlite://../../testdata/chinook.db", "--to", to, "--json")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sqlfeed run --to %s: %v\n%s", to, err, out)
		}
		var resp struct{ Status string }
		if err := json.Unmarshal(out, &resp); err != nil || resp.Status != "success" {
			t.Fatalf("sqlfeed run --to %s: %s", to, out)
		}
	}
	local, err := blob.Open(t.Context(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	remote, err := blob.Open(t.Context(), m.URL())
	if err != nil {
		t.Fatal(err)
	}
	lk, rk := listAll(t, local), listAll(t, remote)
	if normalize(strings.Join(lk, "\n")) != normalize(strings.Join(rk, "\n")) {
		t.Fatalf("S3 keys:\n%s\nfolder keys:\n%s", strings.Join(rk, "\n"), strings.Join(lk, "\n"))
	}
	for i := range lk {
		lb, la, err := blob.ReadAll(t.Context(), local, lk[i])
		if err != nil {
			t.Fatal(err)
		}
		rb, ra, err := blob.ReadAll(t.Context(), remote, rk[i])
		if err != nil {
			t.Fatal(err)
		}
		// Documents, schemas and pages are byte-identical; a page index (the
		// paged feed's version and latest.json) holds its version and generated_at.
		index := strings.HasPrefix(lk[i], "tracks-paged/") && !strings.Contains(lk[i], "/pages/")
		exact := !index && (strings.Contains(lk[i], "/versions/") || strings.Contains(lk[i], "/pages/") ||
			strings.HasSuffix(lk[i], "/latest.json") || strings.HasSuffix(lk[i], "/schema.json"))
		if exact && !bytes.Equal(lb, rb) || !exact && normalize(string(lb)) != normalize(string(rb)) {
			t.Errorf("%s: S3 bytes differ from the folder's", rk[i])
		}
		if la.ContentType != ra.ContentType || la.ContentEncoding != ra.ContentEncoding || la.CacheControl != ra.CacheControl ||
			la.User["sha256"] != ra.User["sha256"] || la.User["rows"] != ra.User["rows"] {
			t.Errorf("%s: S3 metadata %+v, folder %+v", rk[i], ra.Meta, la.Meta)
		}
	}
	t.Logf("%d objects alike", len(lk))
}

func listAll(t *testing.T, s blob.Store) []string {
	t.Helper()
	l, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, a := range l {
		keys = append(keys, a.Key)
	}
	return keys
}

// TestHeavyRunToS3Memory: publishing a generated feed of more than 1 GiB to S3
// keeps the sqlfeed process's peak RSS under 128 MiB (/usr/bin/time -v).
func TestHeavyRunToS3Memory(t *testing.T) {
	testsvc.Heavy(t)
	timeBin := "/usr/bin/time"
	if _, err := os.Stat(timeBin); err != nil {
		testsvc.Missing(t, "GNU time", err, "apt-get install time")
	}
	m := testsvc.StartMinIO(t)
	bin := buildSqlfeed(t)
	const rows = 7_800_000 // × ~140 bytes a document ≈ 1.09 GB
	cfg := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 1
feeds:
  - name: big
    description: Generated rows
    schedule: rate(1 day)
    query: |
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
      SELECT i AS Id, printf('%%.100c', 'x') AS Name, i * 7 AS Score FROM n
    fields: {id: Id, name: Name, score: Score}
`, rows)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(timeBin, "-v", bin, "run", "--config", cfg, "--db", "sqlite://../../testdata/chinook.db", "--to", m.URL(), "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sqlfeed run: %v\n%s\n%s", err, stdout.Bytes(), tail(stderr.String()))
	}
	var resp struct {
		Status string
		Data   struct {
			Feeds []struct {
				Status     string
				Bytes      int64
				Rows       int64
				DurationMS int64 `json:"duration_ms"`
			}
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil || resp.Status != "success" || len(resp.Data.Feeds) != 1 {
		t.Fatalf("sqlfeed run: %v %s", err, stdout.Bytes())
	}
	f := resp.Data.Feeds[0]
	if f.Bytes < 1<<30 {
		t.Fatalf("the feed is only %d bytes", f.Bytes)
	}
	mm := regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`).FindStringSubmatch(stderr.String())
	if mm == nil {
		t.Fatalf("no peak RSS from %s:\n%s", timeBin, tail(stderr.String()))
	}
	kb, _ := strconv.ParseInt(mm[1], 10, 64)
	t.Logf("published %d rows, %.2f GiB in %d ms; sqlfeed peak RSS %.1f MiB (limit 128 MiB)",
		f.Rows, float64(f.Bytes)/(1<<30), f.DurationMS, float64(kb)/1024)
	if kb<<10 >= 128<<20 {
		t.Fatalf("peak RSS %d KiB ≥ 128 MiB", kb)
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}
