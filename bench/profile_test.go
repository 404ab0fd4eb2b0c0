package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	_ "github.com/sqlfeed/sqlfeed/infra/blob/s3blob"
	sfconfig "github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
	"github.com/sqlfeed/sqlfeed/transform"
)

// BenchmarkExportMinIO exports BENCH_PROFILE_ROWS (default 1,000,000) rows of
// bench_items from MariaDB (BENCH_MYSQL) to a MinIO it starts, in this
// process, as sqlfeed run does — the export that the "where the CPU goes"
// table of docs/benchmarks.md profiles:
//
//	go test -run '^$' -bench ExportMinIO -benchtime 1x -cpuprofile cpu.out ./bench/
//	go tool pprof -top -tagfocus=phase=export cpu.out
func BenchmarkExportMinIO(b *testing.B) {
	n := int64(1000000)
	if v := os.Getenv("BENCH_PROFILE_ROWS"); v != "" {
		var err error
		if n, err = strconv.ParseInt(v, 10, 64); err != nil || n <= 0 {
			b.Fatalf("BENCH_PROFILE_ROWS=%q: not a positive row count", v)
		}
	}
	dsn := envOr("BENCH_MYSQL", "mysql://root@127.0.0.1:3306/test")
	bin, err := testsvc.MinIOBinary()
	if err != nil {
		b.Fatalf("MinIO binary: %v (scripts/minio.sh builds it)", err)
	}
	keepAWSEnv(b)
	ctx := context.Background()
	dir := b.TempDir()
	data := dir + "/minio-data"
	if d := defaultMinIOData(); d != "" {
		if data, err = os.MkdirTemp(d, "sqlfeed-bench-minio-"); err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(data)
	}
	m, err := startMinIO(ctx, bin, dir, data)
	if err != nil {
		b.Fatal(err)
	}
	defer m.stop()
	if err := ensureTable(ctx, dsn, n, b.Logf); err != nil {
		b.Fatal(err)
	}
	cfg, err := sfconfig.Parse("bench.yaml", []byte(feedConfig(n, "none")), transform.Default)
	if err != nil {
		b.Fatal(err)
	}
	source, err := db.Open(ctx, dsn, db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer source.Close()
	b.ResetTimer()
	for i := range b.N {
		store, err := blob.Open(ctx, fmt.Sprintf("s3://%s/run-%d", m.bucket, i))
		if err != nil {
			b.Fatal(err)
		}
		exporters.SetMemoryLimit(store) // as cmd/sqlfeed does
		r := &exporters.Runner{Config: cfg, DB: source, Store: store}
		var res []exporters.Result
		// The label marks the export's samples (pprof -tagfocus=phase=export):
		// the setup above is not what is profiled.
		pprof.Do(ctx, pprof.Labels("phase", "export"), func(ctx context.Context) {
			res, err = r.Run(ctx, exporters.Request{})
		})
		store.Close()
		if err != nil || len(res) != 1 || res[0].Status != exporters.StatusSuccess || res[0].Rows != n {
			b.Fatalf("export: %v %+v", err, res)
		}
		b.StopTimer()
		m.empty(ctx, "")
		b.StartTimer()
	}
	b.ReportMetric(float64(n*int64(b.N))/b.Elapsed().Seconds(), "rows/s")
}
