package blob_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
)

// TestDryRun: reads go through, every write succeeds and changes nothing.
func TestDryRun(t *testing.T) {
	ctx := context.Background()
	s, err := fileblob.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "a.json", strings.NewReader(`{"a":1}`), blob.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.List(ctx, "")
	d := blob.DryRun(s)
	if b, _, err := blob.ReadAll(ctx, d, "a.json"); err != nil || string(b) != `{"a":1}` {
		t.Fatalf("read through: %q %v", b, err)
	}
	if a, err := d.Put(ctx, "a.json", strings.NewReader("changed"), blob.WriteOptions{IfNoneMatch: true}); err != nil || a.Size != 7 {
		t.Fatalf("put: %+v %v", a, err)
	}
	if _, err := d.Copy(ctx, "a.json", "b.json", blob.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Copy(ctx, "missing.json", "c.json", blob.WriteOptions{}); err == nil {
		t.Error("copy of a missing object succeeded")
	}
	if err := d.Delete(ctx, "a.json"); err != nil {
		t.Fatal(err)
	}
	up, err := d.NewUpload(ctx, "v.json", blob.WriteOptions{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	up.Write(bytes.Repeat([]byte("x"), 1000))
	if a, err := up.Commit(ctx); err != nil || a.Size != 1000 || a.Key != "v.json" {
		t.Fatalf("commit: %+v %v", a, err)
	}
	after, _ := s.List(ctx, "")
	if len(after) != len(before) || after[0].ETag != before[0].ETag {
		t.Fatalf("the store changed: %+v → %+v", before, after)
	}
}
