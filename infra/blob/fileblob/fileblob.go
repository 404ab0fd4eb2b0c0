// Package fileblob is the local-folder blob store (file://DIR). Objects are plain
// files at their keys, so the folder can be served as it is; metadata, staged
// uploads and the lock live in DIR/.sqlfeed/, which List never shows.
//
// Every write lands in a temporary file that is renamed into place, so a reader
// never sees a partial file. Conditional writes take an flock on DIR/.sqlfeed/lock,
// which makes them atomic across goroutines and processes on one machine.
package fileblob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	json "github.com/goccy/go-json"

	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// hidden is the folder, below the root, for metadata, staging and the lock.
const hidden = ".sqlfeed"

func init() {
	blob.Register("file", func(_ context.Context, u *url.URL) (blob.Store, error) {
		dir := u.Host + u.Path // file://public and file:///abs/path
		if u.Opaque != "" {
			dir = u.Opaque
		}
		if dir == "" {
			return nil, errors.New("file:// URL needs a directory")
		}
		return Open(dir)
	})
}

// Store is a blob.Store over a local directory.
type Store struct {
	root string
}

// Open returns a store rooted at dir, creating it if needed.
func Open(dir string) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, hidden, "tmp"), filepath.Join(dir, hidden, "meta")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	return &Store{root: dir}, nil
}

// Root returns the directory of the store.
func (s *Store) Root() string { return s.root }

func (s *Store) path(key string) (string, error) {
	clean := path.Clean("/" + key)[1:]
	if clean == "" || clean != key || strings.HasPrefix(key, hidden+"/") || key == hidden {
		return "", fmt.Errorf("invalid key %q", key)
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

func (s *Store) metaPath(key string) string {
	return filepath.Join(s.root, hidden, "meta", filepath.FromSlash(key)+".json")
}

type sidecar struct {
	ETag string    `json:"etag"`
	Meta blob.Meta `json:"meta"`
}

// Head implements blob.Store.
func (s *Store) Head(_ context.Context, key string) (blob.Attrs, error) {
	p, err := s.path(key)
	if err != nil {
		return blob.Attrs{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return blob.Attrs{}, fmt.Errorf("%s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return blob.Attrs{}, err
	}
	a := blob.Attrs{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}
	var sc sidecar
	if b, err := os.ReadFile(s.metaPath(key)); err == nil && json.Unmarshal(b, &sc) == nil {
		a.ETag, a.Meta = sc.ETag, sc.Meta
	} else {
		a.ETag = fmt.Sprintf(`"%x-%x"`, fi.Size(), fi.ModTime().UnixNano())
	}
	return a, nil
}

// Get implements blob.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, blob.Attrs, error) {
	a, err := s.Head(ctx, key)
	if err != nil {
		return nil, a, err
	}
	p, _ := s.path(key)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, a, fmt.Errorf("%s: %w", key, blob.ErrNotFound)
	}
	return f, a, err
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opt blob.WriteOptions) (blob.Attrs, error) {
	u, err := s.NewUpload(ctx)
	if err != nil {
		return blob.Attrs{}, err
	}
	defer u.Abort(ctx)
	if _, err := io.Copy(u, r); err != nil {
		return blob.Attrs{}, err
	}
	return u.Commit(ctx, key, opt)
}

// Copy implements blob.Store.
func (s *Store) Copy(ctx context.Context, src, dst string, opt blob.WriteOptions) (blob.Attrs, error) {
	r, _, err := s.Get(ctx, src)
	if err != nil {
		return blob.Attrs{}, err
	}
	defer r.Close()
	return s.Put(ctx, dst, r, opt)
}

// Delete implements blob.Store.
func (s *Store) Delete(_ context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Remove(s.metaPath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// List implements blob.Store.
func (s *Store) List(ctx context.Context, prefix string) ([]blob.Attrs, error) {
	var out []blob.Attrs
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.root, p)
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if key == hidden {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		a, err := s.Head(ctx, key)
		if err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, err
}

// NewUpload implements blob.Store: bytes go to a temporary file under .sqlfeed/tmp.
func (s *Store) NewUpload(context.Context) (blob.Upload, error) {
	f, err := os.CreateTemp(filepath.Join(s.root, hidden, "tmp"), "upload-*")
	if err != nil {
		return nil, err
	}
	// The ETag hashes the content with SHA-256 (its first 16 bytes, as long as
	// S3's MD5 ETags): with the CPU's SHA extensions it costs a third of MD5,
	// which was a sixth of an export's CPU (docs/benchmarks.md).
	return &upload{s: s, f: f, h: sha256.New()}, nil
}

// Close implements blob.Store.
func (s *Store) Close() error { return nil }

type upload struct {
	s    *Store
	f    *os.File
	h    hash.Hash
	done bool
}

func (u *upload) Write(p []byte) (int, error) {
	u.h.Write(p)
	return u.f.Write(p)
}

func (u *upload) Abort(context.Context) error {
	if u.done {
		return nil
	}
	u.done = true
	u.f.Close()
	return os.Remove(u.f.Name())
}

func (u *upload) Commit(ctx context.Context, key string, opt blob.WriteOptions) (blob.Attrs, error) {
	if u.done {
		return blob.Attrs{}, errors.New("upload already finished")
	}
	defer u.Abort(ctx)
	p, err := u.s.path(key)
	if err != nil {
		return blob.Attrs{}, err
	}
	if err := u.f.Sync(); err != nil {
		return blob.Attrs{}, err
	}
	if err := u.f.Close(); err != nil {
		return blob.Attrs{}, err
	}
	if err := ctx.Err(); err != nil {
		return blob.Attrs{}, err
	}
	unlock, err := u.s.lock()
	if err != nil {
		return blob.Attrs{}, err
	}
	defer unlock()
	if opt.IfNoneMatch || opt.IfMatch != "" {
		cur, err := u.s.Head(ctx, key)
		switch {
		case err != nil && !errors.Is(err, blob.ErrNotFound):
			return blob.Attrs{}, err
		case opt.IfNoneMatch && err == nil:
			return blob.Attrs{}, fmt.Errorf("%s exists: %w", key, blob.ErrPrecondition)
		case opt.IfMatch != "" && (err != nil || cur.ETag != opt.IfMatch):
			return blob.Attrs{}, fmt.Errorf("%s changed: %w", key, blob.ErrPrecondition)
		}
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return blob.Attrs{}, err
	}
	if err := os.Chmod(u.f.Name(), 0o644); err != nil {
		return blob.Attrs{}, err
	}
	etag := `"` + hex.EncodeToString(u.h.Sum(nil)[:16]) + `"`
	if err := os.Rename(u.f.Name(), p); err != nil {
		return blob.Attrs{}, err
	}
	u.done = true
	sc, _ := json.Marshal(sidecar{ETag: etag, Meta: opt.Meta})
	if err := writeAtomic(u.s.metaPath(key), sc, filepath.Join(u.s.root, hidden, "tmp")); err != nil {
		return blob.Attrs{}, err
	}
	return u.s.Head(ctx, key)
}

// writeAtomic writes b to p through a temporary file in tmpDir and a rename.
func writeAtomic(p string, b []byte, tmpDir string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(tmpDir, "meta-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

// lock takes the store-wide write lock.
func (s *Store) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.root, hidden, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
