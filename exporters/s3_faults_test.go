package exporters

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
	"github.com/sqlfeed/sqlfeed/transform"
)

// bigFeed returns a config with one generated feed "big" of rows documents
// of about 140 bytes each.
func bigFeed(t *testing.T, rows int) *config.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(p, []byte(fmt.Sprintf(`version: 1
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
	cfg, err := config.Load(p, transform.Default)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestHeavyS3FaultsMidUpload: cancelling a run halfway through a ≥ 200 MB upload,
// or stopping the server then, leaves the previous version served, no new
// object under versions/, and no multipart upload (aborted at once, or when
// the server is back).
func TestHeavyS3FaultsMidUpload(t *testing.T) {
	testsvc.Heavy(t)
	const rows = 1_600_000 // ≈ 224 MB
	for _, fault := range []string{"cancel", "server-stops"} {
		t.Run(fault, func(t *testing.T) {
			m := testsvc.StartMinIO(t)
			if fault == "server-stops" {
				t.Setenv("AWS_MAX_ATTEMPTS", "2") // fail while it is down, not after it is back
			}
			store := openStore(t, m.URL())
			first := e2eRunner(t, "sqlite://../testdata/chinook.db", store)
			first.Config = bigFeed(t, 1000)
			res := mustRun(t, first, Request{ScheduledTime: e2eTime})
			before, _, err := blob.ReadAll(t.Context(), store, "big/latest.json")
			if err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := e2eRunner(t, "sqlite://../testdata/chinook.db", store)
			r.Config = bigFeed(t, rows)
			faulted, inFlight := false, 0
			r.Progress = func(_ string, _, n int64) {
				if n >= 100<<20 && !faulted {
					faulted, inFlight = true, m.PendingMultipartUploads()
					if fault == "cancel" {
						cancel()
					} else {
						m.Stop()
					}
				}
			}
			start := time.Now()
			out, err := r.Run(ctx, Request{ScheduledTime: e2eTime.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if !faulted || inFlight != 1 || out[0].Status != StatusError {
				t.Fatalf("run with a fault halfway: %+v (fault injected: %v, uploads in flight then: %d)", out[0], faulted, inFlight)
			}
			t.Logf("failed after %v: %s", time.Since(start).Round(time.Millisecond), out[0].Message)
			if fault == "server-stops" {
				m.Start()
				if err := store.Close(); err != nil { // as sqlfeed does on exit: retries the abort
					t.Fatalf("close: %v", err)
				}
			}
			assertServes(t, store, "big", res[0].Version)
			if v := listKeys(t, store, "big/versions/"); len(v) != 1 {
				t.Fatalf("versions after the fault: %v", v)
			}
			after, _, err := blob.ReadAll(t.Context(), store, "big/latest.json")
			if err != nil || !bytes.Equal(after, before) {
				t.Fatalf("latest.json changed: %v", err)
			}
			if n := m.PendingMultipartUploads(); n != 0 {
				t.Fatalf("%d multipart uploads left", n)
			}
		})
	}
}
