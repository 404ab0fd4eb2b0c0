package db_test

import (
	"context"
	"crypto/sha256"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
	"github.com/sqlfeed/sqlfeed/transform"
)

const (
	streamRows = 2_000_000
	// heapLimit is the Go heap bound of the streaming tests (as for SQLite).
	heapLimit = 32 << 20
)

// heapBytes returns the bytes of heap memory occupied by objects (live and
// not yet swept).
func heapBytes(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHeavyStream2M exports a generated 2,000,000-row table from each engine,
// encoding every value to JSON as the pipeline does, and checks the row count
// and that the Go heap stays under heapLimit (rows are never buffered whole).
func TestHeavyStream2M(t *testing.T) {
	testsvc.Heavy(t)
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			start := time.Now()
			if engine == "postgres" {
				tdb.Exec(t, "CREATE TABLE big (id BIGINT PRIMARY KEY, name TEXT, amount NUMERIC(12,2), created TIMESTAMP(6), ok BOOLEAN)")
				tdb.Exec(t, "INSERT INTO big SELECT g, 'item-' || g, g / 100.0, TIMESTAMP '2020-01-01' + g * INTERVAL '1 second', g % 2 = 0 FROM generate_series(1, 2000000) g")
			} else {
				tdb.Exec(t, "CREATE TABLE big (id BIGINT PRIMARY KEY, name VARCHAR(40), amount DECIMAL(12,2), created DATETIME(6), ok BIT(1))")
				tdb.Exec(t, "INSERT INTO big SELECT seq, CONCAT('item-', seq), seq / 100, TIMESTAMP '2020-01-01 00:00:00' + INTERVAL seq SECOND, seq % 2 = 0 FROM seq_1_to_2000000")
			}
			t.Logf("generated %d rows in %v", streamRows, time.Since(start))

			d := open(t, tdb, db.Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			runtime.GC()
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			base := heapBytes(sample)
			start = time.Now()
			c, err := d.Query(ctx, "SELECT id, name, amount, created, ok FROM big ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			env := transform.NewEnv(time.UTC)
			h := sha256.New()
			cols := c.Columns()
			var buf []byte
			rows, peak := 0, base
			for c.Next() {
				buf = append(buf[:0], '[')
				for i, v := range c.Row() {
					if i > 0 {
						buf = append(buf, ',')
					}
					if buf, err = env.Append(buf, v, &cols[i], transform.KindAny, -1); err != nil {
						t.Fatal(err)
					}
				}
				buf = append(buf, "]\n"...)
				h.Write(buf)
				rows++
				if rows%20000 == 0 {
					peak = max(peak, heapBytes(sample))
				}
				if rows == 1 && string(buf) != "[1,\"item-1\",0.01,\"2020-01-01T00:00:01Z\",false]\n" {
					t.Fatalf("first row %s", buf)
				}
			}
			if err := c.Err(); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			t.Logf("%d rows in %v (%.0f rows/s), Go heap at start %.1f MiB, peak %.1f MiB, last row %s",
				rows, took, float64(rows)/took.Seconds(), float64(base)/(1<<20), float64(peak)/(1<<20), buf)
			if rows != streamRows {
				t.Errorf("rows = %d, want %d", rows, streamRows)
			}
			if peak > heapLimit {
				t.Errorf("Go heap peaked at %d bytes, limit %d", peak, heapLimit)
			}
		})
	}
}
