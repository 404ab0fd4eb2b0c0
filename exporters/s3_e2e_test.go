package exporters

// End-to-end publishing to S3 (issue 5): the pipeline against a real MinIO,
// compared with the local folder, under concurrency and duplicate deliveries.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	_ "github.com/sqlfeed/sqlfeed/infra/blob/s3blob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
	"github.com/sqlfeed/sqlfeed/transform"
	_ "github.com/sqlfeed/sqlfeed/transform/artistcard"
)

var e2eTime = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

// e2eRunner returns a runner over the demo config and database dsn, writing
// to store, with a fixed clock.
func e2eRunner(t *testing.T, dsn string, store blob.Store) *Runner {
	t.Helper()
	cfg, err := config.Load("../sqlfeed.yaml", transform.Default)
	if err != nil {
		t.Fatal(err)
	}
	source, err := db.Open(t.Context(), dsn, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { source.Close() })
	state, _ := fileStore(t) // tracks-paged is sharded
	return &Runner{Config: cfg, DB: source, Store: store, State: state, Now: func() time.Time { return e2eTime }, Log: slog.New(slog.DiscardHandler)}
}

func openStore(t *testing.T, url string) blob.Store {
	t.Helper()
	s, err := blob.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// copyDB copies the demo database so a test can change its rows.
func copyDB(t *testing.T) (dsn string, exec func(query string)) {
	t.Helper()
	b, err := os.ReadFile("../testdata/chinook.db")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "chinook.db")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return "sqlite://" + p, func(query string) {
		t.Helper()
		conn, err := sql.Open("sqlite", p)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Exec(query); err != nil {
			t.Fatal(err)
		}
	}
}

func mustRun(t *testing.T, r *Runner, req Request) []Result {
	t.Helper()
	res, err := r.Run(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range res {
		if x.Status == StatusError {
			t.Fatalf("%s: %s", x.Feed, x.Message)
		}
	}
	return res
}

// TestS3SameAsFolder: the demo feeds published to MinIO have the same keys,
// bytes and metadata as the local-folder run, and the manifests and index
// describe what is stored.
func TestS3SameAsFolder(t *testing.T) {
	m := testsvc.StartMinIO(t)
	dsn := "sqlite://../testdata/chinook.db"
	local, err := fileblob.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	remote := openStore(t, m.URL())
	req := Request{ScheduledTime: e2eTime}
	// Run ids from a counter, so both stores get the same version names.
	counted := func(r *Runner) *Runner {
		n := 0
		r.runID = func() string { n++; return fmt.Sprintf("%08x", n) }
		return r
	}
	for _, x := range mustRun(t, counted(e2eRunner(t, dsn, local)), req) {
		if x.Status != StatusSuccess {
			t.Fatalf("folder run: %s %s", x.Feed, x.Status)
		}
	}
	for _, x := range mustRun(t, counted(e2eRunner(t, dsn, remote)), req) {
		if x.Status != StatusSuccess {
			t.Fatalf("S3 run: %s %s", x.Feed, x.Status)
		}
	}
	want, err := local.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(keysOf(got), "\n") != strings.Join(keysOf(want), "\n") {
		t.Fatalf("S3 keys:\n%s\nfolder keys:\n%s", strings.Join(keysOf(got), "\n"), strings.Join(keysOf(want), "\n"))
	}
	for _, a := range want {
		lb, la, err := blob.ReadAll(t.Context(), local, a.Key)
		if err != nil {
			t.Fatal(err)
		}
		rb, ra, err := blob.ReadAll(t.Context(), remote, a.Key)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(lb, rb) {
			t.Errorf("%s: S3 bytes differ from the folder's", a.Key)
		}
		if la.ContentType != ra.ContentType || la.ContentEncoding != ra.ContentEncoding || la.CacheControl != ra.CacheControl ||
			la.User["sha256"] != ra.User["sha256"] || la.User["rows"] != ra.User["rows"] || la.User["version"] != ra.User["version"] {
			t.Errorf("%s: S3 metadata %+v, folder %+v", a.Key, ra.Meta, la.Meta)
		}
	}
	// The manifests name stored versions whose decoded bytes match.
	var index Catalog
	readJSON(t, remote, "index.json", &index)
	if len(index.Feeds) != len(e2eRunner(t, dsn, remote).Config.Feeds) {
		t.Fatalf("index.json lists %d feeds", len(index.Feeds))
	}
	for _, f := range index.Feeds {
		var man Manifest
		readJSON(t, remote, f.URLs.Manifest, &man)
		if man.Version != f.Version || man.SHA256 != f.SHA256 || len(man.Versions) != 1 || man.Versions[0].Key != f.URLs.Version {
			t.Errorf("%s: index %+v, manifest %+v", f.Name, f, man)
		}
		body, a, err := blob.ReadAll(t.Context(), remote, f.URLs.Version)
		if err != nil {
			t.Fatal(err)
		}
		doc := decoded(t, body, a.ContentEncoding)
		sum := sha256.Sum256(doc)
		if man.Paged { // the version is the page index; pagedDoc checks it against its pages
			if _, idx := pagedDoc(t, remote, f.Name); idx.SHA256 != man.SHA256 || idx.Bytes != man.Bytes || a.ContentEncoding != "" {
				t.Errorf("%s: page index %s does not match its manifest", f.Name, idx.SHA256)
			}
		} else if hex.EncodeToString(sum[:]) != man.SHA256 || int64(len(doc)) != man.Bytes || a.User["version"] != man.Version {
			t.Errorf("%s: stored version does not match its manifest", f.Name)
		}
		if a.CacheControl != cacheImmutable || (!man.Paged && (man.ContentEncoding == "gzip") != (a.ContentEncoding == "gzip")) {
			t.Errorf("%s: version metadata %+v", f.Name, a.Meta)
		}
		lb, la, err := blob.ReadAll(t.Context(), remote, f.URLs.Latest)
		if err != nil || !bytes.Equal(lb, body) || la.CacheControl != cacheShort {
			t.Errorf("%s: latest.json is not the version (cache %q): %v", f.Name, la.CacheControl, err)
		}
	}
}

// TestS3RunsStartedTogether: two runs of one feed that reach the publish
// step together publish one version, whether they carry the same scheduled
// time (a duplicate delivery) or not.
func TestS3RunsStartedTogether(t *testing.T) {
	m := testsvc.StartMinIO(t)
	for i, times := range [][2]time.Time{{e2eTime, e2eTime}, {e2eTime, e2eTime.Add(time.Minute)}} {
		prefix := []string{"/same-time", "/next-minute"}[i]
		t.Run(prefix[1:], func(t *testing.T) {
			var ready sync.WaitGroup
			ready.Add(2)
			var results [2]Result
			var wg sync.WaitGroup
			for j := range 2 {
				r := e2eRunner(t, "sqlite://../testdata/chinook.db", openStore(t, m.URL()+prefix))
				r.hook = atStep(stepEncoded, func() { ready.Done(); ready.Wait() }) // both uploaded, then publish at once
				wg.Go(func() {
					res, err := r.Run(context.Background(), Request{Feeds: []string{"genres"}, ScheduledTime: times[j]})
					if err != nil {
						t.Error(err)
						return
					}
					results[j] = res[0]
				})
			}
			wg.Wait()
			s := openStore(t, m.URL()+prefix)
			versions := listKeys(t, s, "genres/versions/")
			if len(versions) != 1 {
				t.Fatalf("versions: %v (results %+v)", versions, results)
			}
			won := 0
			for _, x := range results {
				switch x.Status {
				case StatusSuccess:
					won++
				case StatusUnchanged, StatusSkipped:
				default:
					t.Errorf("result %+v", x)
				}
			}
			if won != 1 {
				t.Fatalf("%d runs published: %+v", won, results)
			}
			assertServes(t, s, "genres", strings.TrimSuffix(strings.TrimPrefix(versions[0], "genres/versions/"), ".json"))
		})
	}
}

// TestS3OlderRunFinishingLast: a run for an older scheduled time that
// finishes after a newer one does not move latest.json or the manifest back,
// whether it is held before publishing or at its manifest write (after its
// version and latest.json were written).
func TestS3OlderRunFinishingLast(t *testing.T) {
	m := testsvc.StartMinIO(t)
	for _, where := range []string{"before-publish", "at-manifest"} {
		t.Run(where, func(t *testing.T) {
			dsn, exec := copyDB(t)
			url := m.URL() + "/" + where
			// A first version, so there is something to go back to.
			mustRun(t, e2eRunner(t, dsn, openStore(t, url)), Request{Feeds: []string{"genres"}, ScheduledTime: e2eTime})

			exec(`UPDATE Genre SET Name = 'Rock (older run)' WHERE GenreId = 1`)
			hold, release := make(chan struct{}), make(chan struct{})
			older := e2eRunner(t, dsn, openStore(t, url))
			if where == "before-publish" {
				older.hook = atStep(stepEncoded, func() { close(hold); <-release })
			} else {
				older.Store = &holdManifest{Store: older.Store, hold: hold, release: release}
			}
			done := make(chan Result)
			go func() {
				res, err := older.Run(context.Background(), Request{Feeds: []string{"genres"}, ScheduledTime: e2eTime.Add(time.Hour)})
				if err != nil {
					t.Error(err)
				}
				done <- res[0]
			}()
			<-hold // the older run has its document (and maybe its version and latest.json)

			exec(`UPDATE Genre SET Name = 'Rock (newer run)' WHERE GenreId = 1`)
			newer := mustRun(t, e2eRunner(t, dsn, openStore(t, url)), Request{Feeds: []string{"genres"}, ScheduledTime: e2eTime.Add(2 * time.Hour)})
			if newer[0].Status != StatusSuccess {
				t.Fatalf("newer run: %+v", newer[0])
			}
			close(release)
			res := <-done
			if res.Status != StatusSkipped {
				t.Fatalf("older run finishing last: %+v, want skipped", res)
			}
			s := openStore(t, url)
			assertServes(t, s, "genres", newer[0].Version)
			if v := listKeys(t, s, "genres/versions/"); len(v) != 2 {
				t.Fatalf("versions: %v, want the first and the newer", v)
			}
			b, _, _ := blob.ReadAll(t.Context(), s, "genres/latest.json")
			if !bytes.Contains(b, []byte("Rock (newer run)")) {
				t.Fatalf("latest.json is not the newer run's document")
			}
		})
	}
}

// TestS3DuplicateDelivery: the same scheduled time delivered twice publishes
// once, even if the data changed in between; latest.json keeps its ETag.
func TestS3DuplicateDelivery(t *testing.T) {
	m := testsvc.StartMinIO(t)
	dsn, exec := copyDB(t)
	s := openStore(t, m.URL())
	req := Request{Feeds: []string{"genres"}, ScheduledTime: e2eTime}
	first := mustRun(t, e2eRunner(t, dsn, s), req)
	if first[0].Status != StatusSuccess {
		t.Fatalf("first delivery: %+v", first[0])
	}
	before, err := s.Head(t.Context(), "genres/latest.json")
	if err != nil {
		t.Fatal(err)
	}
	_, manBefore, _ := blob.ReadAll(t.Context(), s, "genres/manifest.json")
	for i, change := range []string{"", `UPDATE Genre SET Name = 'Changed' WHERE GenreId = 2`} {
		if change != "" {
			exec(change)
		}
		again := mustRun(t, e2eRunner(t, dsn, s), req)
		if again[0].Status != StatusSkipped || again[0].Version != first[0].Version {
			t.Fatalf("redelivery %d: %+v, want skipped", i, again[0])
		}
	}
	after, _ := s.Head(t.Context(), "genres/latest.json")
	_, manAfter, _ := blob.ReadAll(t.Context(), s, "genres/manifest.json")
	if after.ETag != before.ETag || manAfter.ETag != manBefore.ETag {
		t.Fatalf("redelivery rewrote latest.json or the manifest")
	}
	if v := listKeys(t, s, "genres/versions/"); len(v) != 1 {
		t.Fatalf("versions: %v", v)
	}
}

// holdManifest is the real store with a controllable delay: the first
// manifest write signals hold and waits for release.
type holdManifest struct {
	blob.Store
	hold, release chan struct{}
	once          sync.Once
}

func (h *holdManifest) Put(ctx context.Context, key string, r io.Reader, opt blob.WriteOptions) (blob.Attrs, error) {
	if strings.HasSuffix(key, "/manifest.json") {
		h.once.Do(func() { close(h.hold); <-h.release })
	}
	return h.Store.Put(ctx, key, r, opt)
}

// assertServes checks the manifest names version, latest.json has its bytes,
// and every version the manifest names exists.
func assertServes(t *testing.T, s blob.Store, feed, version string) {
	t.Helper()
	var man Manifest
	readJSON(t, s, feed+"/manifest.json", &man)
	if man.Version != version {
		t.Fatalf("manifest names %s, want %s", man.Version, version)
	}
	vb, _, err := blob.ReadAll(t.Context(), s, versionKey(feed, version))
	if err != nil {
		t.Fatal(err)
	}
	lb, _, err := blob.ReadAll(t.Context(), s, latestKey(feed))
	if err != nil || !bytes.Equal(lb, vb) {
		t.Fatalf("latest.json is not version %s: %v", version, err)
	}
	for _, v := range man.Versions {
		if _, err := s.Head(t.Context(), v.Key); err != nil {
			t.Fatalf("manifest names a missing version: %v", err)
		}
	}
}

func readJSON(t *testing.T, s blob.Store, key string, v any) {
	t.Helper()
	b, _, err := blob.ReadAll(t.Context(), s, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
}

func keysOf(l []blob.Attrs) []string {
	out := make([]string, len(l))
	for i, a := range l {
		out[i] = a.Key
	}
	return out
}

func decoded(t *testing.T, b []byte, encoding string) []byte {
	t.Helper()
	if encoding != "gzip" {
		return b
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
