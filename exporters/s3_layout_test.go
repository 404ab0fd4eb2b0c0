package exporters

// Issue 11 on MinIO: the export role of template.yaml is all a run needs and
// no more, and a run creates no key outside the feed prefix (the document
// streams straight to its version key).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/minio/madmin-go/v3"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/blob/s3blob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/samtemplate"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
	"github.com/sqlfeed/sqlfeed/transform"
)

// templateUser creates a MinIO user holding exactly the S3 statements of the
// export function's role in template.yaml, resolved for m's bucket and
// prefix, and returns an S3 client with its credentials.
func templateUser(t *testing.T, m *testsvc.MinIO) *s3.Client {
	t.Helper()
	tpl, err := os.ReadFile("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	stmts, err := samtemplate.RoleStatements(tpl, "ExportFunction", "s3", map[string]string{
		"FeedBucket": m.Bucket, "FeedBucket.Arn": "arn:aws:s3:::" + m.Bucket, "FeedPrefix": m.Prefix,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) == 0 {
		t.Fatal("template.yaml: the export role has no S3 statement")
	}
	policy, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(m.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	adm, err := madmin.NewWithOptions(u.Host, &madmin.Options{Creds: miniocreds.NewStaticV4(m.AccessKey, m.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	const user, secret, name = "sqlfeed-export", "sqlfeed-export-secret", "sqlfeed-export-role"
	ctx := t.Context()
	if err := adm.AddCannedPolicy(ctx, name, policy); err != nil {
		t.Fatalf("minio: add policy %s: %v", policy, err)
	}
	if err := adm.AddUser(ctx, user, secret); err != nil {
		t.Fatalf("minio: add user: %v", err)
	}
	if _, err := adm.AttachPolicy(ctx, madmin.PolicyAssociationReq{Policies: []string{name}, User: user}); err != nil {
		t.Fatalf("minio: attach policy: %v", err)
	}
	t.Logf("user %s holds %s", user, policy)
	c, err := s3blob.NewClient(ctx, func(o *s3.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(user, secret, "")
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// generatedFeeds writes a SQLite database with tables big (rows rows of about
// 140 bytes of JSON each) and small (3 rows), and returns its DSN, a config
// with one feed per table keeping one version, and an exec for changing rows.
func generatedFeeds(t *testing.T, rows int) (string, *config.File, func(string)) {
	t.Helper()
	dsn, w := scratchDB(t,
		"CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT, score INTEGER)",
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
			INSERT INTO big SELECT i, printf('%%.100c', 'x'), i * 7 FROM n`, rows),
		"CREATE TABLE small (id INTEGER PRIMARY KEY, name TEXT)",
		"INSERT INTO small VALUES (1, 'one'), (2, 'two'), (3, 'three')",
	)
	p := filepath.Join(t.TempDir(), "feeds.yaml")
	if err := os.WriteFile(p, []byte(`version: 1
feeds:
  - name: big
    description: Generated rows
    schedule: rate(1 day)
    keep_versions: 1
    query: SELECT id AS Id, name AS Name, score AS Score FROM big ORDER BY id
    fields: {id: Id, name: Name, score: Score}
  - name: small
    description: Three rows
    schedule: rate(1 day)
    keep_versions: 1
    query: SELECT id AS Id, name AS Name FROM small ORDER BY id
    fields: {id: Id, name: Name}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p, transform.Default)
	if err != nil {
		t.Fatal(err)
	}
	return dsn, cfg, func(q string) {
		t.Helper()
		if _, err := w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// isAccessDenied reports whether err is S3's AccessDenied.
func isAccessDenied(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied"
}

// publicGet fetches key (relative to the bucket) anonymously.
func publicGet(t *testing.T, m *testsvc.MinIO, key string) []byte {
	t.Helper()
	resp, err := http.Get(m.ObjectURL(key))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("anonymous GET %s: %s %v", key, resp.Status, err)
	}
	return b
}

// TestS3TemplatePermissions: as a MinIO user holding exactly the S3
// statements of template.yaml's export role, a multipart-sized feed (> 5 MiB,
// several parts) and a small one publish, are served, and a second run's
// retention deletes the older version; the same user cannot write, delete or
// list beyond what a run needs (least privilege).
func TestS3TemplatePermissions(t *testing.T) {
	m := testsvc.StartMinIO(t)
	root := m.Client()
	user := templateUser(t, m)
	store, err := s3blob.Open(t.Context(), m.Bucket, m.Prefix, s3blob.Options{Client: user})
	if err != nil {
		t.Fatal(err)
	}
	const rows = 90_000 // ≈ 12 MiB: three 5 MiB parts
	dsn, cfg, exec := generatedFeeds(t, rows)
	r := e2eRunner(t, dsn, store)
	r.Config = cfg

	var first map[string]string
	for i, at := range []time.Time{e2eTime, e2eTime.Add(24 * time.Hour)} {
		if i == 1 {
			exec("UPDATE big SET score = score + 1 WHERE id = 1")
			exec("UPDATE small SET name = 'uno' WHERE id = 1")
		}
		res := mustRun(t, r, Request{ScheduledTime: at})
		versions := map[string]string{}
		for _, x := range res {
			if x.Status != StatusSuccess || x.Message != "" {
				t.Fatalf("run %d: %s: %s %s", i+1, x.Feed, x.Status, x.Message)
			}
			versions[x.Feed] = x.Version
			assertServes(t, store, x.Feed, x.Version)
			full := m.Prefix + "/" + versionKey(x.Feed, x.Version)
			h, err := root.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &m.Bucket, Key: &full})
			if err != nil {
				t.Fatal(err)
			}
			if multipart := strings.Contains(aws.ToString(h.ETag), "-"); multipart != (x.Feed == "big") {
				t.Fatalf("%s: ETag %s: multipart %v", full, aws.ToString(h.ETag), multipart)
			}
			if x.Feed == "big" && (x.Rows != rows || x.Bytes < 10<<20) {
				t.Fatalf("big: %d rows, %d bytes", x.Rows, x.Bytes)
			}
			// Served to the public: latest.json is the version's bytes.
			v := publicGet(t, m, full)
			if l := publicGet(t, m, m.Prefix+"/"+latestKey(x.Feed)); !bytes.Equal(l, v) {
				t.Fatalf("%s: public latest.json is not version %s", x.Feed, x.Version)
			}
		}
		var idx struct {
			Feeds []struct {
				Name string `json:"name"`
			} `json:"feeds"`
		}
		if err := json.Unmarshal(publicGet(t, m, m.Prefix+"/index.json"), &idx); err != nil || len(idx.Feeds) != 2 {
			t.Fatalf("index.json: %+v %v", idx, err)
		}
		publicGet(t, m, m.Prefix+"/index.html")
		if i == 1 { // retention (keep_versions: 1) listed and deleted the first versions
			for feed, v := range first {
				if _, err := store.Head(t.Context(), versionKey(feed, v)); !errors.Is(err, blob.ErrNotFound) {
					t.Fatalf("%s: first version %s not swept: %v", feed, v, err)
				}
			}
		}
		first = versions
	}
	if n := m.PendingMultipartUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}

	// Least privilege: nothing outside the feed prefix, no delete or list
	// beyond versions/.
	ctx := t.Context()
	body := func() io.Reader { return strings.NewReader("{}") }
	denied := []struct {
		name string
		call func() error
	}{
		{"put at the bucket root", func() error {
			_, err := user.PutObject(ctx, &s3.PutObjectInput{Bucket: &m.Bucket, Key: aws.String("outside.json"), Body: body()})
			return err
		}},
		{"put beside the prefix", func() error {
			_, err := user.PutObject(ctx, &s3.PutObjectInput{Bucket: &m.Bucket, Key: aws.String(m.Prefix + "-other/x.json"), Body: body()})
			return err
		}},
		{"put in the old staging prefix", func() error {
			_, err := user.PutObject(ctx, &s3.PutObjectInput{Bucket: &m.Bucket, Key: aws.String(".sqlfeed-staging/x.json"), Body: body()})
			return err
		}},
		{"multipart outside", func() error {
			_, err := user.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &m.Bucket, Key: aws.String("big.json")})
			return err
		}},
		{"delete the manifest", func() error {
			_, err := user.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &m.Bucket, Key: aws.String(m.Prefix + "/big/manifest.json")})
			return err
		}},
		{"list the bucket", func() error {
			_, err := user.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &m.Bucket})
			return err
		}},
		{"list the prefix", func() error {
			_, err := user.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &m.Bucket, Prefix: aws.String(m.Prefix + "/")})
			return err
		}},
	}
	for _, d := range denied {
		if err := d.call(); !isAccessDenied(err) {
			t.Errorf("%s: %v, want AccessDenied", d.name, err)
		}
	}
	if _, err := root.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &m.Bucket, Key: aws.String(m.Prefix + "/big/manifest.json")}); err != nil {
		t.Fatalf("manifest gone after a denied delete: %v", err)
	}
	// …while the same client may do what a run does (so the denials above
	// are the policy's, not a broken client's).
	if _, err := user.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &m.Bucket, Prefix: aws.String(m.Prefix + "/big/versions/")}); err != nil {
		t.Fatalf("list versions: %v", err)
	}
	if _, err := user.PutObject(ctx, &s3.PutObjectInput{Bucket: &m.Bucket, Key: aws.String(m.Prefix + "/probe.json"), Body: body()}); err != nil {
		t.Fatalf("put under the prefix: %v", err)
	}
	keys := bucketKeys(t, root, m.Bucket)
	for _, k := range keys {
		if !strings.HasPrefix(k, m.Prefix+"/") {
			t.Fatalf("key %s outside the prefix (all: %v)", k, keys)
		}
	}
}

// bucketKeys lists every key of the bucket.
func bucketKeys(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Errorf("list bucket: %v", err)
			return keys
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// TestS3NoKeyOutsidePrefix: while a ~30 MB document uploads, a listing of the
// whole bucket (repeated from a goroutine and from the progress callback)
// never shows a key outside the feed prefix nor the running version before it
// is committed; after encoding, the one multipart upload in flight is on the
// final version key.
func TestS3NoKeyOutsidePrefix(t *testing.T) {
	m := testsvc.StartMinIO(t)
	root := m.Client()
	store := openStore(t, m.URL())
	r := e2eRunner(t, "sqlite://../testdata/chinook.db", store)
	const rows = 215_000 // ≈ 30 MB
	r.Config = bigFeed(t, rows)
	const runID = "5a17c0de"
	r.runID = func() string { return runID }
	version := VersionName(e2eTime, runID)
	vkey := m.Prefix + "/" + versionKey("big", version)
	versionsDir := m.Prefix + "/big/versions/"

	outside := func(keys []string) error {
		for _, k := range keys {
			if !strings.HasPrefix(k, m.Prefix+"/") {
				return fmt.Errorf("key %s outside the prefix %s/", k, m.Prefix)
			}
		}
		return nil
	}
	noVersion := func(keys []string) error {
		for _, k := range keys {
			if strings.HasPrefix(k, versionsDir) {
				return fmt.Errorf("%s exists before the version is committed", k)
			}
		}
		return nil
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	var once sync.Once
	stop := func() { once.Do(func() { close(done); wg.Wait() }) }
	defer stop() // also when a check fails the test from the run
	listings := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := outside(bucketKeys(t, root, m.Bucket)); err != nil {
				t.Error(err)
				return
			}
			listings++
			time.Sleep(10 * time.Millisecond)
		}
	}()

	during := 0
	r.Progress = func(_ string, _, n int64) {
		keys := bucketKeys(t, root, m.Bucket)
		if err := errors.Join(outside(keys), noVersion(keys)); err != nil {
			t.Fatalf("after %d bytes: %v", n, err)
		}
		if n > 5<<20 {
			during++
		}
	}
	encoded := false
	r.hook = atStep(stepEncoded, func() {
		encoded = true
		keys := bucketKeys(t, root, m.Bucket)
		if err := errors.Join(outside(keys), noVersion(keys)); err != nil {
			t.Fatalf("encoded: %v", err)
		}
		// MinIO answers ListMultipartUploads for an exact key only.
		out, err := root.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: &m.Bucket, Prefix: &vkey})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Uploads) != 1 || aws.ToString(out.Uploads[0].Key) != vkey {
			var got []string
			for _, u := range out.Uploads {
				got = append(got, aws.ToString(u.Key))
			}
			t.Fatalf("multipart uploads on %s: %v, want exactly one", vkey, got)
		}
		if n := m.PendingMultipartUploads(); n != 1 {
			t.Fatalf("%d multipart uploads on the server, want 1", n)
		}
	})

	res := mustRun(t, r, Request{ScheduledTime: e2eTime})
	stop()
	if len(res) != 1 || res[0].Status != StatusSuccess || res[0].Version != version {
		t.Fatalf("result %+v, want success of %s", res, version)
	}
	if res[0].Rows != rows || res[0].Bytes < 25<<20 {
		t.Fatalf("%d rows, %d bytes: not a 30 MB document", res[0].Rows, res[0].Bytes)
	}
	if !encoded || during < 3 || listings < 3 {
		t.Fatalf("checked too little: encoded %v, %d listings from progress during the upload, %d from the goroutine", encoded, during, listings)
	}
	assertServes(t, store, "big", version)
	h, err := root.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &m.Bucket, Key: &vkey})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(h.ETag), "-") {
		t.Fatalf("%s: ETag %s: not a multipart upload", vkey, aws.ToString(h.ETag))
	}
	keys := bucketKeys(t, root, m.Bucket)
	if err := outside(keys); err != nil {
		t.Fatal(err)
	}
	if n := m.PendingMultipartUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
	t.Logf("%d bytes; %d listings during the run, %d from progress after 5 MiB", res[0].Bytes, listings, during)
}
