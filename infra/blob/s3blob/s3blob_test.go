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
		assertNoUploads(t, m, s)
	}
}

// assertNoUploads checks that no multipart upload is left: none in MinIO's
// data directory and none for the given keys in ListMultipartUploads (MinIO
// answers it for one exact key only).
func assertNoUploads(t *testing.T, m *testsvc.MinIO, s *s3blob.Store, keys ...string) {
	t.Helper()
	if n := m.PendingMultipartUploads(); n != 0 {
		t.Errorf("%d multipart uploads left on the server", n)
	}
	for _, k := range keys {
		if n := multipartUploads(t, s, s.Prefix()+k); n != 0 {
			t.Errorf("ListMultipartUploads(%s): %d uploads", k, n)
		}
	}
}

// multipartUploads is the number of multipart uploads ListMultipartUploads
// reports for key.
func multipartUploads(t *testing.T, s *s3blob.Store, key string) int {
	t.Helper()
	b := s.Bucket()
	out, err := s.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &b, Prefix: &key})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}
