package fileblob_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	left, err := os.ReadDir(filepath.Join(dir, ".sqlfeed", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	return names
}

func TestNoTempFilesLeft(t *testing.T) {
	dir := t.TempDir()
	s, err := fileblob.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := s.NewUpload(t.Context(), "a.json", blob.WriteOptions{})
	u.Write([]byte("x"))
	u.Abort(t.Context())
	if _, err := s.Put(t.Context(), "b.json", strings.NewReader("y"), blob.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

// TestMetaFailureKeepsOldObject: a sidecar write that fails (disk full) fails
// the write and leaves the previous object, bytes and metadata, as it was.
func TestMetaFailureKeepsOldObject(t *testing.T) {
	s, err := fileblob.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	old, err := s.Put(ctx, "f/manifest.json", strings.NewReader("old"), blob.WriteOptions{Meta: blob.Meta{ContentType: "application/json", User: map[string]string{"v": "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	disk := errors.New("no space left on device")
	s.InjectMetaFault(func(string) error { return disk })
	_, err = s.Put(ctx, "f/manifest.json", strings.NewReader("new"), blob.WriteOptions{IfMatch: old.ETag, Meta: blob.Meta{User: map[string]string{"v": "2"}}})
	if !errors.Is(err, disk) {
		t.Fatalf("put with a failing sidecar: %v", err)
	}
	if _, err := s.Put(ctx, "f/new.json", strings.NewReader("x"), blob.WriteOptions{}); !errors.Is(err, disk) {
		t.Fatalf("create with a failing sidecar: %v", err)
	}
	s.InjectMetaFault(nil)
	b, a, err := blob.ReadAll(ctx, s, "f/manifest.json")
	if err != nil || string(b) != "old" || a.ETag != old.ETag || a.User["v"] != "1" {
		t.Fatalf("after the failed write: %q %+v %v", b, a, err)
	}
	if _, err := s.Head(ctx, "f/new.json"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("failed create is visible: %v", err)
	}
}

// TestMetaFollowsContent: a reader that opened an object keeps that object's
// metadata even after the key is rewritten.
func TestMetaFollowsContent(t *testing.T) {
	s, err := fileblob.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := s.Put(ctx, "k", strings.NewReader("one"), blob.WriteOptions{Meta: blob.Meta{User: map[string]string{"v": "1"}}}); err != nil {
		t.Fatal(err)
	}
	r, a1, err := s.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := range 3 {
		if _, err := s.Put(ctx, "k", strings.NewReader("two"), blob.WriteOptions{Meta: blob.Meta{User: map[string]string{"v": "2"}}}); err != nil {
			t.Fatal(err, i)
		}
	}
	a2, _ := s.Head(ctx, "k")
	if a1.User["v"] != "1" || a2.User["v"] != "2" {
		t.Fatalf("metadata %v then %v", a1.User, a2.User)
	}
}

// TestKilledUploadRemoved: a process killed (SIGKILL) in the middle of an
// upload leaves its temporary file, which the next Open removes; a live
// upload's temporary file is left alone however old.
func TestKilledUploadRemoved(t *testing.T) {
	if dir := os.Getenv("FILEBLOB_CHILD_DIR"); dir != "" {
		s, err := fileblob.Open(dir)
		if err != nil {
			os.Exit(3)
		}
		u, _ := s.NewUpload(t.Context(), "big.json", blob.WriteOptions{})
		u.Write(make([]byte, 1<<20))
		os.Stdout.WriteString("ready\n")
		time.Sleep(time.Minute)
		return
	}
	dir := t.TempDir()
	live, err := fileblob.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	u, err := live.NewUpload(t.Context(), "live.json", blob.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Abort(t.Context())
	u.Write([]byte("still writing"))

	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledUploadRemoved$")
	cmd.Env = append(os.Environ(), "FILEBLOB_CHILD_DIR="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := out.Read(buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("child: %q %v", buf, err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if n := len(tempFiles(t, dir)); n != 2 {
		t.Fatalf("%d temp files before the next run, want the dead and the live one", n)
	}
	old := time.Now().Add(-time.Hour)
	for _, name := range tempFiles(t, dir) {
		os.Chtimes(filepath.Join(dir, ".sqlfeed", "tmp", name), old, old)
	}
	if _, err := fileblob.Open(dir); err != nil {
		t.Fatal(err)
	}
	if left := tempFiles(t, dir); len(left) != 1 {
		t.Fatalf("after the next Open: %v, want only the live upload's", left)
	}
	if _, err := u.Commit(t.Context()); err != nil {
		t.Fatalf("live upload after the sweep: %v", err)
	}
}
