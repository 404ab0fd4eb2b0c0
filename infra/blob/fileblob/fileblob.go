// Package fileblob is the local-folder blob store (file://DIR). Objects are plain
// files at their keys, so the folder can be served as it is; metadata, temporary
// uploads and the lock live in DIR/.sqlfeed/, which List never shows.
//
// A write is one atomic step, as seen by readers and by the next run: the bytes
// go to a temporary file, its metadata sidecar is written first under the
// temporary file's inode number (.sqlfeed/meta/<key>/<inode>.json), and a
// rename then makes data and metadata visible together. Readers look the
// sidecar up by the inode of the file they opened, so they never pair new
// bytes with old metadata; a failure before the rename leaves the old object
// whole. Conditional writes take an flock on DIR/.sqlfeed/lock, which makes
// them atomic across goroutines and processes on one machine.
//
// Every live temporary file is flocked by its writer; Open removes those no
// process holds any more (left by a killed run) once they are a little old.
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
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

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
	// metaFault, when set, runs before each sidecar is published (tests:
	// disk full, EIO).
	metaFault func(key string) error
}

// InjectMetaFault makes every later sidecar write call f first and fail with
// its error: fault injection for tests of a write failing half-way.
func (s *Store) InjectMetaFault(f func(key string) error) { s.metaFault = f }

// staleTemp is how old an unlocked temporary file must be before Open removes
// it: a writer takes its lock right after creating the file.
const staleTemp = 2 * time.Second

// Open returns a store rooted at dir, creating it if needed, and removes the
// temporary files of dead runs.
func Open(dir string) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, hidden, "tmp"), filepath.Join(dir, hidden, "meta")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	s := &Store{root: dir}
	s.removeStaleTemps()
	return s, nil
}

// Root returns the directory of the store.
func (s *Store) Root() string { return s.root }

func (s *Store) tmpDir() string { return filepath.Join(s.root, hidden, "tmp") }

func (s *Store) path(key string) (string, error) {
	clean := path.Clean("/" + key)[1:]
	if clean == "" || clean != key || strings.HasPrefix(key, hidden+"/") || key == hidden {
		return "", fmt.Errorf("invalid key %q", key)
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// metaDir holds key's sidecars, one per inode of a file written at key.
func (s *Store) metaDir(key string) string {
	return filepath.Join(s.root, hidden, "meta", filepath.FromSlash(key))
}

func (s *Store) metaPath(key string, ino uint64) string {
	return filepath.Join(s.metaDir(key), strconv.FormatUint(ino, 10)+".json")
}

type sidecar struct {
	ETag string    `json:"etag"`
	Meta blob.Meta `json:"meta"`
}

func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// attrs returns the attributes of the file fi found at key, with the sidecar
// written for that very file (its inode), or derived ones for a file placed
// by hand.
func (s *Store) attrs(key string, fi fs.FileInfo) blob.Attrs {
	a := blob.Attrs{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}
	var sc sidecar
	if b, err := os.ReadFile(s.metaPath(key, inode(fi))); err == nil && json.Unmarshal(b, &sc) == nil {
		a.ETag, a.Meta = sc.ETag, sc.Meta
	} else {
		a.ETag = fmt.Sprintf(`"%x-%x"`, fi.Size(), fi.ModTime().UnixNano())
	}
	return a
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
	return s.attrs(key, fi), nil
}

// Get implements blob.Store. The attributes are those of the file opened.
func (s *Store) Get(_ context.Context, key string) (io.ReadCloser, blob.Attrs, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, blob.Attrs{}, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, blob.Attrs{}, fmt.Errorf("%s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return nil, blob.Attrs{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, blob.Attrs{}, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, blob.Attrs{}, fmt.Errorf("%s: %w", key, blob.ErrNotFound)
	}
	return f, s.attrs(key, fi), nil
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opt blob.WriteOptions) (blob.Attrs, error) {
	u, err := s.NewUpload(ctx, key, opt)
	if err != nil {
		return blob.Attrs{}, err
	}
	defer u.Abort(ctx)
	if _, err := io.Copy(u, r); err != nil {
		return blob.Attrs{}, err
	}
	return u.Commit(ctx)
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
	if err := os.RemoveAll(s.metaDir(key)); err != nil {
		return err
	}
	return nil
}

// List implements blob.Store.
func (s *Store) List(_ context.Context, prefix string) ([]blob.Attrs, error) {
	var out []blob.Attrs
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // removed while walking
				return nil
			}
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
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, s.attrs(key, fi))
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, err
}

// NewUpload implements blob.Store: bytes go to a temporary file under
// .sqlfeed/tmp, flocked while the upload lives.
func (s *Store) NewUpload(_ context.Context, key string, opt blob.WriteOptions) (blob.Upload, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := createLocked(s.tmpDir(), "upload-*")
	if err != nil {
		return nil, err
	}
	// The ETag hashes the content with SHA-256 (its first 16 bytes, as long as
	// S3's MD5 ETags): with the CPU's SHA extensions it costs a third of MD5,
	// which was a sixth of an export's CPU (docs/benchmarks.md).
	return &upload{s: s, key: key, path: p, opt: opt, f: f, h: sha256.New()}, nil
}

// Close implements blob.Store.
func (s *Store) Close() error { return nil }

// createLocked creates a temporary file in dir and takes its flock, which
// marks it live until closed (or until its process dies).
func createLocked(dir, pattern string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return f, nil
}

// removeStaleTemps removes the temporary files that no live process holds
// (their writer was killed), best effort.
func (s *Store) removeStaleTemps() {
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < staleTemp {
			continue
		}
		p := filepath.Join(s.tmpDir(), e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.Remove(p) // nobody holds it: its writer is gone
		}
		f.Close()
	}
}

type upload struct {
	s    *Store
	key  string
	path string
	opt  blob.WriteOptions
	f    *os.File
	h    hash.Hash
	done bool
}

func (u *upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, errors.New("write after commit or abort")
	}
	u.h.Write(p)
	return u.f.Write(p)
}

func (u *upload) Abort(context.Context) error {
	if u.done {
		return nil
	}
	u.done = true
	os.Remove(u.f.Name())
	return u.f.Close()
}

func (u *upload) Commit(ctx context.Context) (blob.Attrs, error) {
	if u.done {
		return blob.Attrs{}, errors.New("upload already finished")
	}
	defer u.Abort(ctx)
	if err := u.f.Sync(); err != nil {
		return blob.Attrs{}, err
	}
	if err := u.f.Chmod(0o644); err != nil {
		return blob.Attrs{}, err
	}
	fi, err := u.f.Stat()
	if err != nil {
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
	var oldIno uint64
	switch old, err := os.Stat(u.path); {
	case err == nil && old.IsDir():
		return blob.Attrs{}, fmt.Errorf("%s is a folder", u.key)
	case err == nil:
		oldIno = inode(old)
		if u.opt.IfNoneMatch {
			return blob.Attrs{}, fmt.Errorf("%s exists: %w", u.key, blob.ErrPrecondition)
		}
		if u.opt.IfMatch != "" && u.s.attrs(u.key, old).ETag != u.opt.IfMatch {
			return blob.Attrs{}, fmt.Errorf("%s changed: %w", u.key, blob.ErrPrecondition)
		}
	case errors.Is(err, fs.ErrNotExist):
		if u.opt.IfMatch != "" {
			return blob.Attrs{}, fmt.Errorf("%s is gone: %w", u.key, blob.ErrPrecondition)
		}
	default:
		return blob.Attrs{}, err
	}
	// The sidecar first, named by the new file's inode: invisible until the
	// rename below publishes data and metadata in one step.
	newIno := inode(fi)
	etag := `"` + hex.EncodeToString(u.h.Sum(nil)[:16]) + `"`
	sc, _ := json.Marshal(sidecar{ETag: etag, Meta: u.opt.Meta})
	if err := u.s.writeAtomic(u.key, u.s.metaPath(u.key, newIno), sc); err != nil {
		return blob.Attrs{}, fmt.Errorf("write metadata of %s: %w", u.key, err)
	}
	if err := os.MkdirAll(filepath.Dir(u.path), 0o755); err != nil {
		os.Remove(u.s.metaPath(u.key, newIno))
		return blob.Attrs{}, err
	}
	if err := os.Rename(u.f.Name(), u.path); err != nil {
		os.Remove(u.s.metaPath(u.key, newIno))
		return blob.Attrs{}, err
	}
	u.done = true
	u.f.Close()
	// Keep the sidecar of the file just replaced for readers that still hold
	// it open; older ones go.
	u.s.pruneMeta(u.key, newIno, oldIno)
	a := blob.Attrs{Key: u.key, Size: fi.Size(), ETag: etag, Meta: u.opt.Meta}
	if now, err := os.Stat(u.path); err == nil {
		a.ModTime = now.ModTime()
	}
	return a, nil
}

// pruneMeta removes key's sidecars other than those of the inodes keep.
func (s *Store) pruneMeta(key string, keep ...uint64) {
	entries, err := os.ReadDir(s.metaDir(key))
	if err != nil {
		return
	}
	for _, e := range entries {
		ino, err := strconv.ParseUint(strings.TrimSuffix(e.Name(), ".json"), 10, 64)
		if err != nil || e.IsDir() || slices.Contains(keep, ino) {
			continue
		}
		os.Remove(filepath.Join(s.metaDir(key), e.Name()))
	}
}

// writeAtomic writes key's sidecar b to p through a temporary file and a rename.
func (s *Store) writeAtomic(key, p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := createLocked(s.tmpDir(), "meta-*")
	if err != nil {
		return err
	}
	defer f.Close()
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		return err
	}
	if s.metaFault != nil {
		if err := s.metaFault(key); err != nil {
			return err
		}
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
