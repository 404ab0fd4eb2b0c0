package s3blob_test

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/blob/s3blob"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

func TestOpenURL(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1") // no server contacted
	for url, want := range map[string]string{
		"s3://feeds/public":                   "feeds public/",
		"s3://feeds/a/b/":                     "feeds a/b/",
		"s3://feeds":                          "feeds ",
		"s3://feeds/p?part_size=6291456":      "feeds p/",
		"s3://feeds/p?concurrency=2":          "feeds p/",
		"s3:///nobucket":                      "error",
		"s3://feeds/p?part_size=1024":         "error",
		"s3://feeds/p?concurrency=many":       "error",
		"s3://feeds/p?part_size=6291456&x=ok": "feeds p/",
	} {
		s, err := blob.Open(t.Context(), url)
		got := "error"
		if err == nil {
			st := s.(*s3blob.Store)
			got = st.Bucket() + " " + st.Prefix()
		}
		if got != want {
			t.Errorf("Open(%s) = %s (%v), want %s", url, got, err, want)
		}
	}
}

// TestBucketRoot: a store at the bucket's root uploads and lists like one
// under a prefix.
func TestBucketRoot(t *testing.T) {
	m := testsvc.StartMinIO(t)
	c := m.Client()
	bucket := "root-feeds"
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	s, err := s3blob.Open(t.Context(), bucket, "", s3blob.Options{PartSize: s3blob.MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.NewUpload(t.Context(), "f/versions/1.json", blob.WriteOptions{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	u.Write(bytes.Repeat([]byte("x"), s3blob.MinPartSize*2+1))
	if _, err := u.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	l, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 1 || l[0].Key != "f/versions/1.json" || l[0].Size != s3blob.MinPartSize*2+1 {
		t.Fatalf("list at the bucket root: %+v", l)
	}
	assertNoUploads(t, m, s, "f/versions/1.json")
}
