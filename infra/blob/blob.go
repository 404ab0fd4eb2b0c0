// Package blob is the small object-store interface the publisher writes to, with
// URL openers by scheme (file://, s3://). Every driver passes the conformance
// suite in package blobtest.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"sync"
	"time"
)

// ErrNotFound is returned (wrapped) when a key does not exist.
var ErrNotFound = errors.New("blob: not found")

// ErrPrecondition is returned (wrapped) when a conditional write loses:
// If-None-Match found the key, or If-Match found another ETag.
var ErrPrecondition = errors.New("blob: precondition failed")

// Meta is the HTTP metadata stored with an object.
type Meta struct {
	ContentType     string
	ContentEncoding string
	CacheControl    string
	// User is user metadata (x-amz-meta-*), lower-case keys.
	User map[string]string
}

// Attrs describes a stored object.
type Attrs struct {
	Key     string
	Size    int64
	ETag    string
	ModTime time.Time
	// Date is the store's clock when it answered (the HTTP Date of the
	// response; also set with ErrNotFound), zero when the store has no clock
	// of its own.
	Date time.Time
	Meta
}

// WriteOptions are the metadata and condition of a write.
type WriteOptions struct {
	Meta
	// IfMatch replaces the object only if its current ETag is this one.
	IfMatch string
	// IfNoneMatch creates the object only if the key is free.
	IfNoneMatch bool
}

// Store is a flat key space rooted at a prefix. Keys use "/" separators.
type Store interface {
	// Head returns the attributes of key.
	Head(ctx context.Context, key string) (Attrs, error)
	// Get opens key for reading.
	Get(ctx context.Context, key string) (io.ReadCloser, Attrs, error)
	// Put writes a small object from r, atomically.
	Put(ctx context.Context, key string, r io.Reader, opt WriteOptions) (Attrs, error)
	// Copy writes dst as a copy of src's bytes with opt's metadata (server-side where possible).
	Copy(ctx context.Context, src, dst string, opt WriteOptions) (Attrs, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the committed objects whose keys start with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Attrs, error)
	// NewUpload starts a streamed object at key with opt's metadata and
	// condition. Nothing is visible at key until Commit succeeds.
	NewUpload(ctx context.Context, key string, opt WriteOptions) (Upload, error)
	// Close releases the store's resources.
	Close() error
}

// Upload is a streamed object being written.
type Upload interface {
	io.Writer
	// Commit makes the written bytes visible at the upload's key, atomically.
	// When the upload's condition fails it returns ErrPrecondition and
	// discards the upload.
	Commit(ctx context.Context) (Attrs, error)
	// Abort discards the upload; it is safe to call after Commit.
	Abort(ctx context.Context) error
}

// Opener opens a store for a URL of its scheme.
type Opener func(ctx context.Context, u *url.URL) (Store, error)

var (
	mu      sync.RWMutex
	openers = map[string]Opener{}
)

// Register makes a store driver available for URLs of scheme; call it from init.
func Register(scheme string, o Opener) {
	mu.Lock()
	defer mu.Unlock()
	openers[scheme] = o
}

// Open opens the store named by rawURL (file://DIR, s3://bucket/prefix).
func Open(ctx context.Context, rawURL string) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("destination %q: %w", rawURL, err)
	}
	mu.RLock()
	o, ok := openers[u.Scheme]
	schemes := make([]string, 0, len(openers))
	for s := range openers {
		schemes = append(schemes, s+"://")
	}
	mu.RUnlock()
	if !ok {
		sort.Strings(schemes)
		return nil, fmt.Errorf("destination %q: unsupported scheme (want one of %v)", rawURL, schemes)
	}
	s, err := o(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("destination %q: %w", rawURL, err)
	}
	return s, nil
}

// ReadAll reads a small object whole (manifests, indexes).
func ReadAll(ctx context.Context, s Store, key string) ([]byte, Attrs, error) {
	r, a, err := s.Get(ctx, key)
	if err != nil {
		return nil, a, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	return b, a, err
}
