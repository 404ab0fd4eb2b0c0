package encode

import (
	"bytes"
	"testing"
)

// TestHostileLargeDocumentChunked: a document far larger than the buffers
// is handed on in chunks of bufSize, so the pipeline's buffers never grow
// to the document's size, and the output is intact.
func TestHostileLargeDocumentChunked(t *testing.T) {
	var out bytes.Buffer
	e, err := NewPipelined(&out, NDJSON, None)
	if err != nil {
		t.Fatal(err)
	}
	doc := bytes.Repeat([]byte("x"), 10<<20+7)
	if err := e.WriteDoc(doc); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if out.Len() != len(doc)+1 || e.Bytes() != int64(len(doc)+1) {
		t.Fatalf("wrote %d bytes (counted %d), want %d", out.Len(), e.Bytes(), len(doc)+1)
	}
	for range queued {
		if b := <-e.async.free; cap(b) > bufSize {
			t.Fatalf("a pipeline buffer grew to %d bytes (bufSize %d)", cap(b), bufSize)
		}
	}
}
