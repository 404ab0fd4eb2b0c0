package exporters

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/transform"
	_ "github.com/sqlfeed/sqlfeed/transform/artistcard"
)

// t0 is the scheduled time of the first test run.
var t0 = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

func openDB(t testing.TB, dsn string) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), dsn, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func fileStore(t testing.TB) (*fileblob.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := fileblob.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func parseConfig(t testing.TB, text string) *config.File {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(text), transform.Default)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func runFeeds(t testing.TB, r *Runner, at time.Time, feeds ...string) []Result {
	t.Helper()
	res, err := r.Run(context.Background(), Request{Feeds: feeds, ScheduledTime: at})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range res {
		if x.Feed == "" {
			t.Fatalf("a result names no feed: %+v", x)
		}
	}
	return res
}

// scratchDB creates a writable SQLite file with the given statements and
// returns its DSN.
func scratchDB(t testing.TB, stmts ...string) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scratch.db")
	w, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	for _, s := range stmts {
		if _, err := w.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return "sqlite://" + path, w
}

// readDoc returns the uncompressed bytes of a published object.
func readDoc(t testing.TB, s blob.Store, key string) []byte {
	t.Helper()
	r, a, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rd io.Reader = r
	if a.ContentEncoding == "gzip" {
		gz, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		rd = gz
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eachDoc calls fn for every document of a JSON array or NDJSON stream,
// decoding as it reads, and returns the count.
func eachDoc(t testing.TB, r io.Reader, format string, fn func(json.RawMessage)) int {
	t.Helper()
	n := 0
	if format == "ndjson" {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			if !json.Valid(sc.Bytes()) {
				t.Fatalf("line %d is not JSON: %s", n+1, sc.Bytes())
			}
			fn(bytes.Clone(sc.Bytes()))
			n++
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	dec := json.NewDecoder(r)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		t.Fatalf("document does not start with [: %v %v", tok, err)
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatalf("document %d: %v", n+1, err)
		}
		fn(raw)
		n++
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		t.Fatalf("document does not end with ]: %v %v", tok, err)
	}
	return n
}

func manifestOf(t testing.TB, s blob.Store, feed string) *Manifest {
	t.Helper()
	m, _, err := readManifest(context.Background(), s, feed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// listKeys returns every committed key of the store below prefix.
func listKeys(t testing.TB, s blob.Store, prefix string) []string {
	t.Helper()
	l, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, len(l))
	for i, a := range l {
		keys[i] = a.Key
	}
	sort.Strings(keys)
	return keys
}

// assertNoTemp fails if a staged upload was left in a file store's folder.
func assertNoTemp(t testing.TB, dir string) {
	t.Helper()
	left, _ := os.ReadDir(filepath.Join(dir, ".sqlfeed", "tmp"))
	if len(left) > 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

// atStep returns a Runner.hook that calls f after the named publish step.
func atStep(step string, f func()) func(feed, step string) error {
	return func(_, s string) error {
		if s == step {
			f()
		}
		return nil
	}
}
