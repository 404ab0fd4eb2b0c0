package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// TestMain lets the test binary serve as the raw read child, as the bench
// binary does.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(rawReadMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestSmoke runs the whole benchmark on a tiny table (fresh databases, one
// run) so that make bench cannot rot: table load, the five measurements per
// engine (the reference exporter among them), the profile, the report and the
// plot.
func TestSmoke(t *testing.T) {
	bin, err := testsvc.MinIOBinary()
	if err != nil {
		testsvc.Missing(t, "MinIO", err, testsvc.MinIOHow)
	}
	my, pg := testsvc.MySQL(t), testsvc.Postgres(t)
	keepAWSEnv(t)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := config{Sizes: []int64{300, 700}, Runs: 2, MySQL: my.DSN, Postgres: pg.DSN, MinIO: bin, Out: out, NoMicro: true,
		ProfileRows: 700, Command: "make bench BENCH_ROWS=300,700", Logf: t.Logf}
	if err := run(ctx, c); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "benchmarks.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| MariaDB | 700 | sqlfeed → MinIO gzip |", "| PostgreSQL | 300 | raw read |",
		"| MariaDB | 700 | reference → MinIO |", "| MariaDB | 300 | rows/s ÷ reference's ≥ 1.5 |",
		"| MariaDB | 700 | CPU s per row ÷ raw read's ≤ 2.0 |", "| PostgreSQL | 700 | rows/s ÷ raw read's ≥ 0.65 |",
		"| MariaDB | 700 | paged: rows/s ÷ unpaged's ≥ 0.9 |", "| MariaDB | 700 | paged re-export, 1 row changed: objects written ≤ 7 (1 page + index files) | ",
		"## Where the CPU goes", "make bench BENCH_ROWS=300,700", "benchmarks.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("benchmarks.md lacks %q:\n%s", want, md)
		}
	}
	if fi, err := os.Stat(filepath.Join(out, "benchmarks.png")); err != nil || fi.Size() < 1000 {
		t.Fatalf("plot: %v", err)
	}
	var js struct{ Runs []result }
	if b, err := os.ReadFile(filepath.Join(out, "benchmarks.json")); err != nil || json.Unmarshal(b, &js) != nil {
		t.Fatalf("benchmarks.json: %v", err)
	}
	// Interleaved: run 1 of every mode, then run 2, per engine and size.
	var order []string
	for _, r := range js.Runs[:2*len(allModes)] {
		order = append(order, r.Mode)
	}
	if want := append(append([]string{}, allModes...), allModes...); !slices.Equal(order, want) {
		t.Errorf("run order %q, want %q", order, want)
	}
	for _, r := range js.Runs {
		if r.Mode == modeRepage && (r.Objects < 2 || r.Objects > targetRepageObjects) {
			t.Errorf("%s %d: the paged re-export after one changed row wrote %d objects", r.Engine, r.Size, r.Objects)
		}
		if r.Rows != r.Size || r.Bytes == 0 || r.Wall <= 0 || r.MaxRSS == 0 {
			t.Errorf("%s %s %d: %+v", r.Engine, r.Mode, r.Size, r.sample)
		}
	}
	// A second run keeps the loaded table.
	if err := ensureTable(ctx, my.DSN, 700, func(f string, a ...any) { t.Errorf("reloaded: "+f, a...) }); err != nil {
		t.Fatal(err)
	}
}

// TestRowsDeterministic pins the generator: row i is a function of i.
func TestRowsDeterministic(t *testing.T) {
	var a, b strings.Builder
	if err := writeRows(&a, 100); err != nil {
		t.Fatal(err)
	}
	writeRows(&b, 50)
	if !strings.HasPrefix(a.String(), b.String()) || strings.Count(a.String(), "\n") != 100 {
		t.Fatal("the first 50 of 100 rows differ from the 50-row table")
	}
	for _, l := range strings.Split(strings.TrimSpace(a.String()), "\n") {
		if n := strings.Count(l, "\t"); n != 8 {
			t.Fatalf("%d tabs in %q", n, l)
		}
	}
}

// TestReferenceExport checks what the reference exporter uploads: the JSON
// array of the query's rows, every column a string, NULL as "".
func TestReferenceExport(t *testing.T) {
	bin, err := testsvc.MinIOBinary()
	if err != nil {
		testsvc.Missing(t, "MinIO", err, testsvc.MinIOHow)
	}
	keepAWSEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	m, err := startMinIO(ctx, bin, dir, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.stop()
	ref := filepath.Join(dir, "reference")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", ref, "./reference").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, e := range []struct{ name, dsn string }{{"mysql", testsvc.MySQL(t).DSN}, {"postgres", testsvc.Postgres(t).DSN}} {
		t.Run(e.name, func(t *testing.T) {
			if err := ensureTable(ctx, e.dsn, 60, t.Logf); err != nil {
				t.Fatal(err)
			}
			r := &runner{reference: ref, work: t.TempDir(), minio: m}
			s, err := r.measureReference(ctx, e.dsn, 40, 7)
			if err != nil {
				t.Fatal(err)
			}
			if s.Rows != 40 || s.Bytes < 40*100 || s.MaxRSS <= 0 {
				t.Fatalf("sample %+v", s)
			}
			// measureReference empties the bucket afterwards: run it again by hand.
			driver, native, err := driverDSN(e.dsn)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(ctx, ref, "-driver", driver, "-dsn", native, "-query", benchQuery(40), "-bucket", m.bucket, "-key", "t/"+e.name+".json")
			cmd.Env = append(os.Environ(), m.env()...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			obj, err := m.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(m.bucket), Key: aws.String("t/" + e.name + ".json")})
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Body.Close()
			body, err := io.ReadAll(obj.Body)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("40 %d\n", len(body)); string(out) != want {
				t.Errorf("printed %q, want %q", out, want)
			}
			var rows []map[string]string
			if err := json.Unmarshal(body, &rows); err != nil {
				t.Fatalf("not a JSON array of string maps: %v\n%.300s", err, body)
			}
			if len(rows) != 40 || rows[0]["id"] != "1" || rows[39]["id"] != "40" || len(rows[0]) != 9 {
				t.Fatalf("rows: %d, first %v", len(rows), rows[0])
			}
			if rows[19]["meta"] != "" || rows[18]["meta"] == "" || !strings.Contains(rows[0]["name"], " 1 — ") {
				t.Errorf("row 19 meta %q (NULL), row 18 meta %q, row 1 name %q", rows[19]["meta"], rows[18]["meta"], rows[0]["name"])
			}
		})
	}
}

// TestCPUAreas pins how profile samples are grouped: leaf first, runtime
// helpers to their caller, the SDK's hashes to the upload, unlabelled samples
// outside the runtime (the setup) left out.
func TestCPUAreas(t *testing.T) {
	const sep = "-----------+-------------------------------------------------------\n"
	trace := func(d string, export bool, frames ...string) string {
		s := sep
		if export {
			s += "     phase:  export\n"
		}
		s += fmt.Sprintf("%10s   %s\n", d, frames[0])
		for _, f := range frames[1:] {
			s += "             " + f + "\n"
		}
		return s
	}
	traces := "File: bench.test\nType: cpu\n" +
		trace("30ms", true, "internal/runtime/syscall/linux.Syscall6", "syscall.read", "internal/poll.(*FD).Read", "net.(*conn).Read",
			"github.com/go-sql-driver/mysql.(*buffer).fill", "github.com/sqlfeed/sqlfeed/infra/db.(*Cursor).Next") +
		trace("20ms", true, "runtime.memmove", "github.com/sqlfeed/sqlfeed/transform.(*Env).Append", "github.com/sqlfeed/sqlfeed/exporters.(*Runner).stream") +
		trace("10ms", true, "github.com/goccy/go-json/internal/encoder.Compact", "github.com/sqlfeed/sqlfeed/transform.(*Env).Append") +
		trace("40ms", true, "crypto/internal/fips140/sha256.blockSHANI", "crypto/sha256.(*Digest).Write", "github.com/sqlfeed/sqlfeed/exporters/encode.(*hashWriter).Write") +
		trace("50ms", true, "crypto/internal/fips140/sha256.blockSHANI", "github.com/aws/aws-sdk-go-v2/aws/signer/v4.(*Signer).SignHTTP") +
		trace("10ms", true, "hash/crc32.ieeeCLMUL", "io.Copy", "github.com/aws/aws-sdk-go-v2/service/internal/checksum.computeStreamChecksum") +
		trace("10ms", true, "hash/crc32.ieeeCLMUL", "compress/gzip.(*Writer).Write") +
		trace("1.5s", true, "internal/runtime/syscall/linux.Syscall6", "net.(*conn).Write", "net/http.(*persistConn).writeLoop") +
		trace("60ms", false, "runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker") +
		trace("20ms", true, "runtime.mallocgc", "runtime.gcAssistAlloc", "runtime.mallocgc", "github.com/sqlfeed/sqlfeed/transform.(*Env).Append") +
		trace("10ms", false, "runtime.findRunnable", "runtime.schedule") +
		trace("90ms", false, "github.com/sqlfeed/sqlfeed/bench.writeRows", "github.com/sqlfeed/sqlfeed/bench.ensureTable") +
		trace("10ms", true, "runtime.futex", "runtime.notesleep") +
		trace("10ms", true, "github.com/sqlfeed/sqlfeed/exporters/encode.(*Writer).Row")
	got, total, err := cpuAreas(traces)
	if err != nil {
		t.Fatal(err)
	}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	want := []areaTime{
		{"GC (mark, sweep, scavenge, assists)", ms(80)},
		{areaSHA256, ms(40)},
		{"gzip", ms(10)},
		{areaHTTP, ms(1560)},
		{"driver / scan (go-sql-driver, database/sql, infra/db)", ms(30)},
		{"json columns: validate + compact (goccy/go-json)", ms(10)},
		{"mapping + value encoding (transform: each value to JSON text)", ms(20)},
		{"JSON document writer (exporters/encode: buffers, async writer)", ms(10)},
		{otherArea, ms(20)},
	}
	if !slices.Equal(got, want) {
		t.Errorf("areas\n got %v\nwant %v", got, want)
	}
	if total != ms(1780) {
		t.Errorf("total %v, want 1.78s (the setup's 90ms left out)", total)
	}
	if _, _, err := cpuAreas(sep + "garbage line\n"); err == nil {
		t.Error("a line that is neither a sample nor a label passed")
	}
}

// TestParseModes: BENCH_MODES keeps the interleaving order and the raw read.
func TestParseModes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"reference,minio", []string{modeRaw, modeMinIO, modeReference}, false},
		{"raw,minio,reference,folder,gzip,paged,repage", allModes, false},
		{"gzip", []string{modeRaw, modeGzip}, false},
		{"minio,s3", nil, true},
	} {
		got, err := parseModes(c.in)
		if (err != nil) != c.err || !slices.Equal(got, c.want) {
			t.Errorf("parseModes(%q) = %q, %v; want %q (error %v)", c.in, got, err, c.want, c.err)
		}
	}
	var c config
	c.MySQL, c.Postgres = "mysql://x", "postgres://y"
	if err := restrictEngines(&c, "MariaDB"); err != nil || c.MySQL == "" || c.Postgres != "" {
		t.Errorf("restrictEngines(mariadb): %v %+v", err, c)
	}
	if err := restrictEngines(&c, "oracle"); err == nil {
		t.Error("unknown engine accepted")
	}
}

// TestDBServerCPU: the server process of each DSN is found and its CPU time,
// backends included, grows with a query that keeps it busy.
func TestDBServerCPU(t *testing.T) {
	for _, e := range []struct{ name, dsn, busy string }{
		{"mysql", testsvc.MySQL(t).DSN, "SELECT BENCHMARK(3000000, MD5('x'))"},
		{"postgres", testsvc.Postgres(t).DSN, "SELECT sum(i) FROM generate_series(1, 3000000) i"},
	} {
		t.Run(e.name, func(t *testing.T) {
			pid := dbServerPID(e.dsn)
			if pid == 0 {
				t.Fatalf("no process listens on the port of %s", e.dsn)
			}
			before := dbServerCPU(pid)
			d, err := db.Open(context.Background(), e.dsn, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var v any
			start := time.Now()
			err = d.X.QueryRowContext(context.Background(), e.busy).Scan(&v)
			took := time.Since(start)
			d.Close() // PostgreSQL: the backend ends, its time moves to the postmaster's cutime
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			if got := dbServerCPU(pid) - before; got < 50*time.Millisecond {
				t.Errorf("server CPU grew by %v during a query of %v", got, took)
			}
		})
	}
}

// TestRerender: the report is rebuilt from benchmarks.json alone, with the
// medians, modes and sizes of its runs.
func TestRerender(t *testing.T) {
	dir := t.TempDir()
	var runs []result
	for i := range 3 {
		for _, m := range []string{modeRaw, modeMinIO, modeReference} {
			d := time.Duration(i+1) * time.Second
			if m == modeMinIO {
				d *= 2
			}
			runs = append(runs, result{Engine: "MariaDB", Mode: m, Size: 1000, sample: sample{Rows: 1000, Bytes: 5000, Wall: d, CPU: d / 2, MaxRSS: 30 << 20}})
		}
	}
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	b, err := json.Marshal(stored{Command: "make bench BENCH_ROWS=1000", Note: "a note", At: at, Machine: [][2]string{{"CPUs (nproc)", "2"}}, Runs: runs})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "benchmarks.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := rerender(context.Background(), config{Out: out, NoMicro: true, Logf: t.Logf}, path); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "benchmarks.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(`make bench BENCH_ROWS=1000`) on 2026-12-03 09:00 UTC, 3 runs per figure", "a note",
		"| MariaDB | 1000 | raw read | 500 | 333–1000 |", "| MariaDB | 1000 | rows/s ÷ reference's ≥ 1.5 | 0.500 | 0.50–0.50 | **missed** |",
		"| MariaDB | 1000 | CPU s per row ÷ raw read's ≤ 2.0 | 2.000 | 2.00–2.00 | met |", "-rerender docs/benchmarks.json"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("benchmarks.md lacks %q:\n%s", want, md)
		}
	}
}

// keepAWSEnv restores the AWS variables after the test: startMinIO points
// this process at its server.
func keepAWSEnv(tb testing.TB) {
	for _, k := range []string{"AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE"} {
		tb.Setenv(k, os.Getenv(k))
	}
}
