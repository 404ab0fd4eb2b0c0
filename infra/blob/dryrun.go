package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
)

// DryRun wraps s so that reads go to s and every write is discarded: Put,
// Copy, Delete and uploads report success and change nothing (`sqlfeed run
// --dry-run`). Bytes written to an upload are read and dropped, so a run
// still reads, maps and encodes everything. Close closes s.
func DryRun(s Store) Store { return dryRun{s} }

type dryRun struct{ Store }

func fakeAttrs(key string, size int64, opt WriteOptions) Attrs {
	var b [8]byte
	rand.Read(b[:])
	return Attrs{Key: key, Size: size, ETag: `"dry-run-` + hex.EncodeToString(b[:]) + `"`, Meta: opt.Meta}
}

func (d dryRun) Put(_ context.Context, key string, r io.Reader, opt WriteOptions) (Attrs, error) {
	n, err := io.Copy(io.Discard, r)
	return fakeAttrs(key, n, opt), err
}

func (d dryRun) Copy(ctx context.Context, src, dst string, opt WriteOptions) (Attrs, error) {
	a, err := d.Store.Head(ctx, src)
	if err != nil {
		return Attrs{}, err
	}
	return fakeAttrs(dst, a.Size, opt), nil
}

func (d dryRun) Delete(context.Context, string) error { return nil }

func (d dryRun) NewUpload(_ context.Context, key string, opt WriteOptions) (Upload, error) {
	return &dryUpload{key: key, opt: opt}, nil
}

type dryUpload struct {
	key string
	opt WriteOptions
	n   int64
}

func (u *dryUpload) Write(p []byte) (int, error) { u.n += int64(len(p)); return len(p), nil }
func (u *dryUpload) Commit(context.Context) (Attrs, error) {
	return fakeAttrs(u.key, u.n, u.opt), nil
}
func (u *dryUpload) Abort(context.Context) error { return nil }
