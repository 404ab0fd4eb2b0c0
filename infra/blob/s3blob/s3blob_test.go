package s3blob_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/blob/blobtest"
	"github.com/sqlfeed/sqlfeed/infra/blob/s3blob"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// newStore opens a store on a fresh prefix of m's bucket, with the smallest
// part size so multipart paths run with small test data.
func newStore(t *testing.T, m *testsvc.MinIO, prefix string) *s3blob.Store {
	t.Helper()
	s, err := s3blob.Open(t.Context(), m.Bucket, prefix, s3blob.Options{PartSize: s3blob.MinPartSize, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	m := testsvc.StartMinIO(t)
	var n atomic.Int32
	var stores []*s3blob.Store
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s := newStore(t, m, fmt.Sprintf("%s/conformance-%d", m.Prefix, n.Add(1)))
		stores = append(stores, s)
		return s
	})
	for _, s := range stores {
		assertNoUploads(t, s)
	}
}

// assertNoUploads checks that no multipart upload and no staged object is left.
func assertNoUploads(t *testing.T, s *s3blob.Store) {
	t.Helper()
	ctx := context.Background()
	b := s.Bucket()
	ups, err := s.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups.Uploads {
		t.Errorf("multipart upload left: %s %s", *u.Key, *u.UploadId)
	}
	p := s.StagingPrefix()
	objs, err := s.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b, Prefix: &p})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs.Contents {
		t.Errorf("staged object left: %s", *o.Key)
	}
}
