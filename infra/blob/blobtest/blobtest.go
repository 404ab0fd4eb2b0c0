// Package blobtest is the conformance suite every blob.Store driver passes.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// Run runs the conformance suite against a fresh, empty store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	ctx := context.Background()
	meta := blob.Meta{
		ContentType: "application/json", ContentEncoding: "gzip",
		CacheControl: "public, max-age=60", User: map[string]string{"sha256": "abc", "rows": "3"},
	}

	t.Run("PutGetHead", func(t *testing.T) {
		s := newStore(t)
		a, err := s.Put(ctx, "feed/a.json", strings.NewReader(`[1,2]`), blob.WriteOptions{Meta: meta})
		if err != nil {
			t.Fatal(err)
		}
		if a.ETag == "" || a.Size != 5 {
			t.Fatalf("attrs after put: %+v", a)
		}
		r, got, err := s.Get(ctx, "feed/a.json")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if string(b) != `[1,2]` {
			t.Fatalf("got %q", b)
		}
		if got.ETag != a.ETag || got.ContentType != meta.ContentType || got.ContentEncoding != "gzip" ||
			got.CacheControl != meta.CacheControl || got.User["sha256"] != "abc" || got.User["rows"] != "3" {
			t.Fatalf("metadata not kept: %+v", got)
		}
		// A body in a *bytes.Buffer (drivers may send it without a copy).
		if _, err := s.Put(ctx, "feed/b.json", bytes.NewBufferString(`[3]`), blob.WriteOptions{Meta: meta}); err != nil {
			t.Fatal(err)
		}
		assertBody(t, s, "feed/b.json", `[3]`)
		if b, err := s.Head(ctx, "feed/b.json"); err != nil || b.User["sha256"] != "abc" || b.ContentEncoding != "gzip" || b.Size != 3 {
			t.Fatalf("metadata of a buffered put: %+v %v", b, err)
		}
		if _, err := s.Head(ctx, "feed/missing.json"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("head missing: %v", err)
		}
		if _, _, err := s.Get(ctx, "feed/missing.json"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("get missing: %v", err)
		}
	})

	t.Run("Conditional", func(t *testing.T) {
		s := newStore(t)
		a, err := s.Put(ctx, "m.json", strings.NewReader("1"), blob.WriteOptions{IfNoneMatch: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, "m.json", strings.NewReader("2"), blob.WriteOptions{IfNoneMatch: true}); !errors.Is(err, blob.ErrPrecondition) {
			t.Fatalf("If-None-Match on existing key: %v", err)
		}
		b, err := s.Put(ctx, "m.json", strings.NewReader("3"), blob.WriteOptions{IfMatch: a.ETag})
		if err != nil {
			t.Fatalf("If-Match with current ETag: %v", err)
		}
		if _, err := s.Put(ctx, "m.json", strings.NewReader("4"), blob.WriteOptions{IfMatch: a.ETag}); !errors.Is(err, blob.ErrPrecondition) {
			t.Fatalf("If-Match with stale ETag: %v", err)
		}
		if b.ETag == a.ETag {
			t.Fatal("ETag did not change with the content")
		}
		assertBody(t, s, "m.json", "3")
	})

	t.Run("ConditionalRace", func(t *testing.T) {
		s := newStore(t)
		a, err := s.Put(ctx, "m.json", strings.NewReader("0"), blob.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wins := make(chan string, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := string(rune('a' + i))
				if _, err := s.Put(ctx, "m.json", strings.NewReader(body), blob.WriteOptions{IfMatch: a.ETag}); err == nil {
					wins <- body
				} else if !errors.Is(err, blob.ErrPrecondition) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		close(wins)
		var won []string
		for w := range wins {
			won = append(won, w)
		}
		if len(won) != 1 {
			t.Fatalf("%d conditional writers won, want exactly 1", len(won))
		}
		assertBody(t, s, "m.json", won[0])
	})

	t.Run("UploadCommitAbort", func(t *testing.T) {
		s := newStore(t)
		u, err := s.NewUpload(ctx, "feed/versions/v1.json", blob.WriteOptions{Meta: meta, IfNoneMatch: true})
		if err != nil {
			t.Fatal(err)
		}
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB in many writes
		for i := 0; i < len(big); i += 4096 {
			if _, err := u.Write(big[i : i+4096]); err != nil {
				t.Fatal(err)
			}
		}
		if l, _ := s.List(ctx, ""); len(l) != 0 {
			t.Fatalf("uncommitted upload is visible: %v", keys(l))
		}
		if _, err := s.Head(ctx, "feed/versions/v1.json"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("uncommitted upload is visible at its key: %v", err)
		}
		a, err := u.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if a.Size != int64(len(big)) {
			t.Fatalf("size %d, want %d", a.Size, len(big))
		}
		if err := u.Abort(ctx); err != nil {
			t.Fatalf("abort after commit: %v", err)
		}
		assertBody(t, s, "feed/versions/v1.json", string(big))

		// A second upload to the same key with If-None-Match loses and leaves nothing.
		u2, _ := s.NewUpload(ctx, "feed/versions/v1.json", blob.WriteOptions{IfNoneMatch: true})
		u2.Write([]byte("other"))
		if _, err := u2.Commit(ctx); !errors.Is(err, blob.ErrPrecondition) {
			t.Fatalf("commit on existing key: %v", err)
		}
		assertBody(t, s, "feed/versions/v1.json", string(big))

		u3, _ := s.NewUpload(ctx, "feed/versions/v3.json", blob.WriteOptions{})
		u3.Write([]byte("discarded"))
		if err := u3.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		l, err := s.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := keys(l); len(got) != 1 || got[0] != "feed/versions/v1.json" {
			t.Fatalf("after abort: %v", got)
		}
	})

	t.Run("CopyListDelete", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"f/versions/2.json", "f/versions/1.json", "g/x.json"} {
			if _, err := s.Put(ctx, k, strings.NewReader(k), blob.WriteOptions{Meta: meta}); err != nil {
				t.Fatal(err)
			}
		}
		short := blob.WriteOptions{Meta: blob.Meta{ContentType: "application/json", CacheControl: "public, max-age=60"}}
		a, err := s.Copy(ctx, "f/versions/2.json", "f/latest.json", short)
		if err != nil {
			t.Fatal(err)
		}
		if a.CacheControl != short.CacheControl {
			t.Fatalf("copy kept old metadata: %+v", a)
		}
		assertBody(t, s, "f/latest.json", "f/versions/2.json")
		l, err := s.List(ctx, "f/versions/")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(keys(l), ","); got != "f/versions/1.json,f/versions/2.json" {
			t.Fatalf("list: %s", got)
		}
		if err := s.Delete(ctx, "f/versions/1.json"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "f/versions/1.json"); err != nil {
			t.Fatalf("delete missing: %v", err)
		}
		if _, err := s.Head(ctx, "f/versions/1.json"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("deleted key still there: %v", err)
		}
	})
	// A copy onto itself refreshes an object (paged feeds' pages, CONTRACT §5
	// "Page retention"): same bytes, the new metadata, a later ModTime in the
	// listing; a missing source is ErrNotFound.
	t.Run("CopyOntoItself", func(t *testing.T) {
		s := newStore(t)
		key := "f/pages/abc.json"
		if _, err := s.Put(ctx, key, strings.NewReader("[1]"), blob.WriteOptions{Meta: meta}); err != nil {
			t.Fatal(err)
		}
		before, err := s.List(ctx, "f/pages/")
		if err != nil || len(before) != 1 {
			t.Fatalf("list: %v %v", before, err)
		}
		time.Sleep(1100 * time.Millisecond) // S3's LastModified may have whole seconds
		fresh := meta
		fresh.User = map[string]string{"sha256": "abc", "rows": "1"}
		if _, err := s.Copy(ctx, key, key, blob.WriteOptions{Meta: fresh}); err != nil {
			t.Fatal(err)
		}
		assertBody(t, s, key, "[1]")
		after, err := s.List(ctx, "f/pages/")
		if err != nil || len(after) != 1 || !after[0].ModTime.After(before[0].ModTime) {
			t.Fatalf("ModTime %v, then %v (%v)", before[0].ModTime, after, err)
		}
		if a, err := s.Head(ctx, key); err != nil || a.User["rows"] != "1" || a.ContentEncoding != "gzip" {
			t.Fatalf("metadata after the refresh: %+v %v", a, err)
		}
		if _, err := s.Copy(ctx, "f/pages/gone.json", "f/pages/gone.json", blob.WriteOptions{Meta: fresh}); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("refresh of a missing object: %v", err)
		}
	})
	t.Run("CopyConditional", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"v/1.json", "v/2.json"} {
			if _, err := s.Put(ctx, k, strings.NewReader(k), blob.WriteOptions{Meta: meta}); err != nil {
				t.Fatal(err)
			}
		}
		a, err := s.Copy(ctx, "v/1.json", "latest.json", blob.WriteOptions{Meta: meta, IfNoneMatch: true})
		if err != nil {
			t.Fatalf("copy to a free key with If-None-Match: %v", err)
		}
		if _, err := s.Copy(ctx, "v/2.json", "latest.json", blob.WriteOptions{Meta: meta, IfNoneMatch: true}); !errors.Is(err, blob.ErrPrecondition) {
			t.Fatalf("copy onto an existing key with If-None-Match: %v", err)
		}
		if _, err := s.Copy(ctx, "v/2.json", "latest.json", blob.WriteOptions{Meta: meta, IfMatch: `"stale"`}); !errors.Is(err, blob.ErrPrecondition) {
			t.Fatalf("copy with a stale If-Match: %v", err)
		}
		assertBody(t, s, "latest.json", "v/1.json")
		if _, err := s.Copy(ctx, "v/2.json", "latest.json", blob.WriteOptions{Meta: meta, IfMatch: a.ETag}); err != nil {
			t.Fatalf("copy with the current If-Match: %v", err)
		}
		assertBody(t, s, "latest.json", "v/2.json")
		if _, err := s.Copy(ctx, "v/missing.json", "x.json", blob.WriteOptions{}); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("copy of a missing key: %v", err)
		}
	})

	t.Run("UploadManyPartsConditional", func(t *testing.T) { runBigConditional(t, newStore(t)) })

	t.Run("UploadManyParts", func(t *testing.T) {
		// Bigger than a few S3 parts (5 MiB minimum), written in odd-sized chunks.
		s := newStore(t)
		u, err := s.NewUpload(ctx, "f/versions/big.json", blob.WriteOptions{Meta: meta, IfNoneMatch: true})
		if err != nil {
			t.Fatal(err)
		}
		defer u.Abort(ctx)
		want := sha256.New()
		w := io.MultiWriter(u, want)
		chunk := make([]byte, 70001)
		var n int64
		for i := 0; n < 17<<20; i++ {
			for j := range chunk {
				chunk[j] = byte(i*31 + j)
			}
			w.Write(chunk)
			n += int64(len(chunk))
		}
		a, err := u.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if a.Size != n {
			t.Fatalf("size %d, want %d", a.Size, n)
		}
		r, got, err := s.Get(ctx, "f/versions/big.json")
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		m, _ := io.Copy(h, r)
		r.Close()
		if m != n || !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
			t.Fatalf("read back %d bytes with another sha256", m)
		}
		if got.CacheControl != meta.CacheControl || got.ContentEncoding != "gzip" || got.User["rows"] != "3" {
			t.Fatalf("metadata not kept: %+v", got.Meta)
		}
		if l, _ := s.List(ctx, ""); len(l) != 1 {
			t.Fatalf("after commit: %v", keys(l))
		}
	})
}

// runBigConditional checks that a multipart-sized upload honours its
// condition at commit (If-None-Match on a taken key loses and changes nothing).
func runBigConditional(t *testing.T, s blob.Store) {
	ctx := context.Background()
	if _, err := s.Put(ctx, "f/versions/taken.json", strings.NewReader("first"), blob.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	u, err := s.NewUpload(ctx, "f/versions/taken.json", blob.WriteOptions{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	for range 12 {
		if _, err := u.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := u.Commit(ctx); !errors.Is(err, blob.ErrPrecondition) {
		t.Fatalf("multipart commit onto a taken key: %v", err)
	}
	assertBody(t, s, "f/versions/taken.json", "first")
}

func keys(l []blob.Attrs) []string {
	out := make([]string, len(l))
	for i, a := range l {
		out[i] = a.Key
	}
	return out
}

func assertBody(t *testing.T, s blob.Store, key, want string) {
	t.Helper()
	b, _, err := blob.ReadAll(context.Background(), s, key)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if string(b) != want {
		t.Fatalf("%s = %.40q…, want %.40q…", key, b, want)
	}
}
