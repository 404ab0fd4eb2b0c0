// Package paging cuts a feed's document stream into immutable pages whose
// boundaries depend on the documents' keys only (CONTRACT §3 "Paged feeds"),
// names them by content and encoding, and keeps the stored pages of a feed:
// one listing, bounded uploads, refresh, confirmation and the retention sweep
// of CONTRACT §5 "Page retention".
//
// The boundary rule: a page ends after a document when the 64-bit hash of its
// key's published JSON bytes (FNV-1a, then the murmur3 finalizer so every bit
// mixes) is 0 modulo Options.Rows, so page lengths follow a geometric
// distribution with mean Rows; and a page also ends before a document that
// would push it past Options.MaxBytes (a document larger than that is a page
// alone). Nothing depends on a document's position in the stream, so an edit
// changes the page holding it, and an insert or delete at most that page and
// a neighbour.
package paging

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/sqlfeed/sqlfeed/exporters/encode"
)

// Options configure a Builder.
type Options struct {
	Rows     int    // mean documents per page (the boundary probability is 1/Rows)
	MaxBytes int64  // largest page, uncompressed, unless one document is larger
	Format   string // encode.JSON | encode.NDJSON
	Compress string // encode.Gzip | encode.None
	// FromFirstBoundary drops the documents up to and including the first one
	// that ends a page by its key: a key range (shard) that starts mid-page
	// leaves them to the range before it, which runs on to that boundary.
	FromFirstBoundary bool
}

// Page is one finished page.
type Page struct {
	Name        string // pages/<Name>.json: the content's sha256, and "-gzip" when compressed
	Rows, Bytes int64  // documents, uncompressed size
	SHA256      string // hex SHA-256 of the uncompressed page
	First, Last []byte // the first and last documents' keys, as published JSON
	Body        []byte // the stored bytes (compressed when the feed is); the Builder does not reuse them
}

// Key returns the page's key under a feed's folder.
func (p *Page) Key(feed string) string { return feed + "/" + p.URL() }

// URL returns the page's URL relative to its feed's folder.
func (p *Page) URL() string { return "pages/" + p.Name + ".json" }

// KeyFunc returns the published JSON bytes of a document's key; the Builder
// copies what it keeps.
type KeyFunc func(doc []byte) ([]byte, error)

// DuplicateKeyError reports a key equal to the one before it.
type DuplicateKeyError struct{ Key string }

// Error names the repeated key.
func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("pages.by value %s repeats the previous document's: the key must be unique (and the query ordered by it)", e.Key)
}

// Builder collects documents into pages (at most one page in memory) and
// passes each finished page to emit, in order. It implements transform.Sink.
type Builder struct {
	opt  Options
	key  KeyFunc
	emit func(*Page) error

	buf         bytes.Buffer
	enc         *encode.Writer
	first, last []byte
	size        int64 // uncompressed bytes of the open page, without its closing
	prev        []byte
	after       []byte // FromFirstBoundary: the key of the boundary document skipped through
	skipping    bool
	stopping    bool
	done        bool
	rows, bytes int64 // totals of the emitted pages
	docs        int64 // documents of the open page
}

// NewBuilder returns a Builder for opt.
func NewBuilder(opt Options, key KeyFunc, emit func(*Page) error) (*Builder, error) {
	if opt.Rows < 1 || opt.MaxBytes < 1 {
		return nil, fmt.Errorf("paging: rows %d and max_bytes %d must be positive", opt.Rows, opt.MaxBytes)
	}
	if _, err := encode.New(&bytes.Buffer{}, opt.Format, opt.Compress); err != nil {
		return nil, err
	}
	return &Builder{opt: opt, key: key, emit: emit, skipping: opt.FromFirstBoundary}, nil
}

// Boundary reports whether a page ends after the document whose key has the
// published bytes key, for pages of rows documents on average.
func Boundary(key []byte, rows int) bool {
	h := fnv.New64a()
	h.Write(key)
	return mix(h.Sum64())%uint64(rows) == 0
}

// mix is murmur3's 64-bit finalizer: FNV-1a's low bits depend only on the low
// bits of the input bytes, and the rule reads them (modulo).
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb3fe1a85ec53
	x ^= x >> 33
	return x
}

// framing returns the bytes a document adds to a page holding n documents
// before it, and the bytes that close a page (encode's layout).
func (b *Builder) framing(n int64) (add, closing int64) {
	if b.opt.Format == encode.NDJSON {
		return 1, 0
	}
	if n == 0 {
		return 1, 3 // "\n" after "[", "\n]\n" at the end
	}
	return 2, 3 // ",\n"
}

// WriteDoc adds a document (transform.Sink).
func (b *Builder) WriteDoc(doc []byte) error {
	if b.done {
		return nil
	}
	k, err := b.key(doc)
	if err != nil {
		return err
	}
	if b.prev != nil && bytes.Equal(k, b.prev) {
		return &DuplicateKeyError{Key: string(k)}
	}
	b.prev = append(b.prev[:0], k...)
	boundary := Boundary(k, b.opt.Rows)
	if b.skipping {
		if boundary {
			b.skipping, b.after = false, bytes.Clone(k)
		}
		return nil
	}
	add, closing := b.framing(b.docs)
	if b.docs > 0 && b.size+add+int64(len(doc))+closing > b.opt.MaxBytes {
		if err := b.flush(); err != nil {
			return err
		}
		add, _ = b.framing(0)
	}
	if b.enc == nil {
		if b.enc, err = encode.New(&b.buf, b.opt.Format, b.opt.Compress); err != nil {
			return err
		}
		b.size = 0
		if b.opt.Format == encode.JSON {
			b.size = 1 // "["
		}
		b.first = append(b.first[:0], k...)
	}
	if err := b.enc.WriteDoc(doc); err != nil {
		return err
	}
	b.docs++
	b.size += add + int64(len(doc))
	b.last = append(b.last[:0], k...)
	if boundary {
		if err := b.flush(); err != nil {
			return err
		}
		if b.stopping {
			b.done = true
		}
	}
	return nil
}

// flush ends the open page and emits it.
func (b *Builder) flush() error {
	if b.enc == nil {
		return nil
	}
	if err := b.enc.Close(); err != nil {
		return err
	}
	// The body is handed over, not copied (memory: one page being built plus
	// those being uploaded); the next page is built in a recycled buffer.
	body := b.buf.Bytes()
	b.buf = *bytes.NewBuffer(getBuf())
	p := &Page{Rows: b.enc.Rows(), Bytes: b.enc.Bytes(), SHA256: b.enc.SHA256(),
		First: bytes.Clone(b.first), Last: bytes.Clone(b.last), Body: body}
	p.Name = p.SHA256
	if b.enc.ContentEncoding() != "" {
		p.Name += "-" + b.enc.ContentEncoding()
	}
	b.enc, b.docs = nil, 0
	b.rows += p.Rows
	b.bytes += p.Bytes
	return b.emit(p)
}

// StopAtNextBoundary makes the page that ends at the next key boundary the
// last one: a key range ends there (Done then reports true, and later
// documents are ignored).
func (b *Builder) StopAtNextBoundary() { b.stopping = true }

// Skipping reports whether FromFirstBoundary still drops documents: no key
// boundary was seen yet.
func (b *Builder) Skipping() bool { return b.skipping }

// After returns, with FromFirstBoundary, the key of the document whose
// boundary ended the skipped stretch (nil while Skipping): the pages start
// right after it, where the range before ends.
func (b *Builder) After() []byte { return b.after }

// Done reports whether StopAtNextBoundary's boundary was reached.
func (b *Builder) Done() bool { return b.done }

// Close emits the last page, if any documents are left.
func (b *Builder) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	return b.flush()
}

// Rows returns the documents of the emitted pages and the open one.
func (b *Builder) Rows() int64 { return b.rows + b.docs }

// Bytes returns the uncompressed bytes of the emitted pages and the open one.
func (b *Builder) Bytes() int64 {
	if b.enc == nil {
		return b.bytes
	}
	return b.bytes + b.size
}

// Digest returns the feed digest of CONTRACT §5: the SHA-256 of the pages'
// lowercase hex sha256s in order, each followed by a newline.
func Digest(pages []Entry) string {
	h := sha256.New()
	for _, p := range pages {
		h.Write([]byte(p.SHA256))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// bufs recycles page bodies (Recycle), so that building pages allocates
// nothing in the steady state.
var bufs sync.Pool

func getBuf() []byte {
	if p, ok := bufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return nil
}

// Recycle returns a page's Body for reuse once nothing refers to it.
func Recycle(p *Page) {
	b := p.Body
	p.Body = nil
	bufs.Put(&b)
}
