package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
// run) so that make bench cannot rot: table load, the four measurements per
// engine, the report and the plot.
func TestSmoke(t *testing.T) {
	bin, err := testsvc.MinIOBinary()
	if err != nil {
		testsvc.Missing(t, "MinIO", err, testsvc.MinIOHow)
	}
	my, pg := testsvc.MySQL(t), testsvc.Postgres(t)
	for _, k := range []string{"AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE"} {
		t.Setenv(k, os.Getenv(k)) // startMinIO points this process at its server: restored after the test
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := config{Sizes: []int64{300, 700}, Runs: 1, MySQL: my.DSN, Postgres: pg.DSN, MinIO: bin, Out: out, NoMicro: true,
		Command: "make bench BENCH_ROWS=300,700", Logf: t.Logf}
	if err := run(ctx, c); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "benchmarks.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| MariaDB | 700 | sqlfeed → MinIO gzip |", "| PostgreSQL | 300 | raw read |",
		"make bench BENCH_ROWS=300,700", "benchmarks.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("benchmarks.md lacks %q:\n%s", want, md)
		}
	}
	if fi, err := os.Stat(filepath.Join(out, "benchmarks.png")); err != nil || fi.Size() < 1000 {
		t.Fatalf("plot: %v", err)
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
