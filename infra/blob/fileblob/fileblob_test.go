package fileblob_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/blob/blobtest"
	"github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := fileblob.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestNoTempFilesLeft(t *testing.T) {
	dir := t.TempDir()
	s, err := fileblob.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := s.NewUpload(t.Context())
	u.Write([]byte("x"))
	u.Abort(t.Context())
	left, _ := os.ReadDir(filepath.Join(dir, ".sqlfeed", "tmp"))
	if len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}
