package exporters_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
	_ "github.com/sqlfeed/sqlfeed/transform/artistcard"
)

// exportSample runs the sample feeds of sqlfeed.yaml from dsn into a fresh
// folder and returns each feed's document (uncompressed) by file name
// ("tracks.json").
func exportSample(t *testing.T, dsn string) map[string][]byte {
	t.Helper()
	cfg, err := config.Load(filepath.Join(testsvc.RepoRoot(), "sqlfeed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := db.Open(ctx, dsn, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	store, err := fileblob.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &exporters.Runner{Config: cfg, DB: d, Store: store}
	results, err := r.Run(ctx, exporters.Request{ScheduledTime: time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string][]byte{}
	for i, f := range cfg.Feeds {
		if res := results[i]; res.Status != exporters.StatusSuccess {
			t.Fatalf("%s on %s: %s %s", f.Name, d.Engine(), res.Status, res.Message)
		}
		raw, attrs, err := blob.ReadAll(ctx, store, f.Name+"/latest.json")
		if err != nil {
			t.Fatal(err)
		}
		if attrs.ContentEncoding == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if raw, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		docs[f.Name+"."+f.Format] = raw
	}
	return docs
}

// TestSampleFeedsAcrossEngines: the sample feeds exported from Chinook on
// SQLite, MariaDB/MySQL and PostgreSQL are byte-identical, and identical to
// testdata/golden where a golden file exists.
func TestSampleFeedsAcrossEngines(t *testing.T) {
	sqlite := exportSample(t, "sqlite://"+filepath.Join(testsvc.RepoRoot(), "testdata", "chinook.db"))
	for name, doc := range sqlite {
		golden, err := os.ReadFile(filepath.Join(testsvc.RepoRoot(), "testdata", "golden", name))
		if err == nil && !bytes.Equal(doc, golden) {
			t.Errorf("sqlite: %s differs from testdata/golden\n%s", name, firstDiff(doc, golden))
		}
	}
	for _, engine := range []string{"mysql", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			tdb.LoadChinook(t)
			describeSample(t, tdb.DSN)
			docs := exportSample(t, tdb.DSN)
			for name, want := range sqlite {
				if got := docs[name]; !bytes.Equal(got, want) {
					t.Errorf("%s: %s differs from SQLite's (and the golden file)\n%s", engine, name, firstDiff(got, want))
				}
			}
		})
	}
}

// describeSample checks what `sqlfeed validate --db` relies on: every sample
// feed's engine query describes (no rows read) to the columns its SQLite
// query has, by name.
func describeSample(t *testing.T, dsn string) {
	t.Helper()
	cfg, err := config.Load(filepath.Join(testsvc.RepoRoot(), "sqlfeed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lite, err := db.Open(ctx, "sqlite://"+filepath.Join(testsvc.RepoRoot(), "testdata", "chinook.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	d, err := db.Open(ctx, dsn, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, f := range cfg.Feeds {
		want, err := lite.Describe(ctx, f.QueryFor("sqlite"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.Describe(ctx, f.QueryFor(d.Engine()))
		if err != nil {
			t.Fatalf("%s: describe: %v", f.Name, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d columns, SQLite %d", f.Name, len(got), len(want))
		}
		for i := range got {
			if got[i].Name != want[i].Name {
				t.Errorf("%s: column %d is %q, SQLite %q", f.Name, i, got[i].Name, want[i].Name)
			}
		}
	}
}

func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-80)
	return "got:  …" + string(a[lo:min(len(a), i+80)]) + "\nwant: …" + string(b[lo:min(len(b), i+80)])
}
