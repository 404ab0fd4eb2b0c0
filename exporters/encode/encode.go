// Package encode writes a stream of JSON documents as one feed file: a JSON
// array or NDJSON, optionally gzip-compressed, counting rows and bytes and
// hashing the uncompressed document (sha256) as it goes. Nothing is buffered
// beyond fixed-size write buffers.
//
// NewPipelined moves hashing, compression and the writes to the destination
// onto a goroutine of their own, fed through a bounded queue of recycled
// buffers, so that encoding the next documents overlaps with them.
package encode

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// Formats and encodings of CONTRACT §3.
const (
	JSON   = "json"
	NDJSON = "ndjson"
	Gzip   = "gzip"
	None   = "none"
)

// ContentType returns the HTTP Content-Type of a format.
func ContentType(format string) string {
	if format == NDJSON {
		return "application/x-ndjson"
	}
	return "application/json"
}

// ContentEncoding returns the HTTP Content-Encoding of a compression: "gzip"
// or "".
func ContentEncoding(compress string) string {
	if compress == Gzip {
		return "gzip"
	}
	return ""
}

// Writer encodes documents into w. It implements transform.Sink.
type Writer struct {
	format string
	buf    *bufio.Writer
	hw     *hashWriter
	gz     *gzip.Writer
	async  *asyncWriter // nil: synchronous
	rows   int64
	closed bool
}

// hashWriter hashes and counts the uncompressed bytes on their way out.
type hashWriter struct {
	h hash.Hash
	w io.Writer
	n int64
}

func (h *hashWriter) Write(p []byte) (int, error) {
	h.h.Write(p)
	h.n += int64(len(p))
	return h.w.Write(p)
}

// bufSize is the write buffer, and the size of the chunks a pipelined
// Writer queues.
const bufSize = 64 << 10

// queued is how many chunks a pipelined Writer holds at most (memory:
// queued × bufSize).
const queued = 8

// New returns a Writer of format (json|ndjson) compressed with compress
// (gzip|none). Everything runs in the caller's goroutine.
func New(w io.Writer, format, compress string) (*Writer, error) {
	return newWriter(w, format, compress, false)
}

// NewPipelined is New with hashing, compression and the writes to w on a
// goroutine of their own. Close (or Abort) must be called to end it; w must not
// be used before then.
func NewPipelined(w io.Writer, format, compress string) (*Writer, error) {
	return newWriter(w, format, compress, true)
}

func newWriter(w io.Writer, format, compress string, pipelined bool) (*Writer, error) {
	if format != JSON && format != NDJSON {
		return nil, fmt.Errorf("unknown format %q", format)
	}
	e := &Writer{format: format}
	switch compress {
	case Gzip:
		e.gz = gzip.NewWriter(w)
		w = e.gz
	case None, "":
	default:
		return nil, fmt.Errorf("unknown compression %q", compress)
	}
	e.hw = &hashWriter{h: sha256.New(), w: w}
	var front io.Writer = e.hw
	if pipelined {
		e.async = newAsyncWriter(e.hw)
		front = e.async
	}
	e.buf = bufio.NewWriterSize(front, bufSize)
	if format == JSON {
		e.buf.WriteByte('[')
	}
	return e, nil
}

// WriteDoc appends one document.
func (e *Writer) WriteDoc(doc []byte) error {
	if e.format == JSON {
		if e.rows > 0 {
			e.buf.WriteByte(',')
		}
		e.buf.WriteByte('\n')
	}
	e.rows++
	_, err := e.buf.Write(doc)
	if e.format == NDJSON {
		err = e.buf.WriteByte('\n')
	}
	return err
}

// Close ends the array, flushes the buffer and the gzip stream. It does not
// close the underlying writer.
func (e *Writer) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	if e.format == JSON {
		if e.rows > 0 {
			e.buf.WriteByte('\n')
		}
		e.buf.WriteString("]\n")
	}
	err := e.buf.Flush()
	if e.async != nil {
		if aerr := e.async.close(); err == nil {
			err = aerr
		}
	}
	if err != nil {
		return err
	}
	if e.gz != nil {
		return e.gz.Close()
	}
	return nil
}

// Abort ends a Writer that will not be completed (the upload is being
// discarded): a pipelined Writer's goroutine stops without writing what is
// still queued. Close after Abort does nothing.
func (e *Writer) Abort() {
	if e.closed {
		return
	}
	e.closed = true
	if e.async != nil {
		e.async.abort()
	}
}

// Rows returns the number of documents written.
func (e *Writer) Rows() int64 { return e.rows }

// Bytes returns the uncompressed bytes written so far (after Close: the document size).
func (e *Writer) Bytes() int64 {
	if e.async != nil {
		return e.async.n + int64(e.buf.Buffered())
	}
	return e.hw.n + int64(e.buf.Buffered())
}

// SHA256 returns the hex sha256 of the uncompressed document; call after Close.
func (e *Writer) SHA256() string { return hex.EncodeToString(e.hw.h.Sum(nil)) }

// ContentEncoding returns "gzip" or "" for the HTTP Content-Encoding header.
func (e *Writer) ContentEncoding() string {
	if e.gz != nil {
		return Gzip
	}
	return ""
}
