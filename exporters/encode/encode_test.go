package encode

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestWriter(t *testing.T) {
	tests := []struct {
		format, compress string
		docs             []string
		want             string
	}{
		{JSON, None, nil, "[]\n"},
		{JSON, None, []string{`{"a":1}`}, "[\n{\"a\":1}\n]\n"},
		{JSON, Gzip, []string{`{"a":1}`, `{"a":2}`}, "[\n{\"a\":1},\n{\"a\":2}\n]\n"},
		{NDJSON, None, []string{`{"a":1}`, `{"a":2}`}, "{\"a\":1}\n{\"a\":2}\n"},
		{NDJSON, Gzip, nil, ""},
	}
	for _, tt := range tests {
		for _, pipelined := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/%s/pipelined=%v", tt.format, tt.compress, pipelined), func(t *testing.T) {
				var out bytes.Buffer
				newW := New
				if pipelined {
					newW = NewPipelined
				}
				w, err := newW(&out, tt.format, tt.compress)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range tt.docs {
					if err := w.WriteDoc([]byte(d)); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				got := out.Bytes()
				if tt.compress == Gzip {
					zr, err := gzip.NewReader(&out)
					if err != nil {
						t.Fatal(err)
					}
					if got, err = io.ReadAll(zr); err != nil {
						t.Fatal(err)
					}
					if w.ContentEncoding() != "gzip" {
						t.Fatal("content encoding")
					}
				}
				if string(got) != tt.want {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
				sum := sha256.Sum256([]byte(tt.want))
				if w.SHA256() != hex.EncodeToString(sum[:]) || w.Bytes() != int64(len(tt.want)) || w.Rows() != int64(len(tt.docs)) {
					t.Fatalf("sha %s bytes %d rows %d", w.SHA256(), w.Bytes(), w.Rows())
				}
			})
		}
	}
	if _, err := New(io.Discard, "xml", None); err == nil {
		t.Fatal("unknown format accepted")
	}
}

// failWriter fails every write after the first n bytes.
type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// A pipelined Writer reports its destination's error (on a later WriteDoc or
// on Close), writes in order what it queued, and Abort ends it at any point.
func TestPipelined(t *testing.T) {
	doc := []byte(`{"text":"` + strings.Repeat("x", 1000) + `"}`)
	w, _ := NewPipelined(&failWriter{n: 1 << 20}, NDJSON, None)
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		err = w.WriteDoc(doc)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil || err.Error() != "disk full" {
		t.Fatalf("error %v, want disk full", err)
	}

	var out bytes.Buffer
	w, _ = NewPipelined(&out, NDJSON, Gzip)
	for range 3000 {
		w.WriteDoc(doc)
	}
	w.Abort()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	out.Reset()
	w, _ = NewPipelined(&out, JSON, None)
	var want bytes.Buffer
	want.WriteString("[")
	for i := range 5000 {
		d := fmt.Appendf(nil, `{"i":%d}`, i)
		w.WriteDoc(d)
		if i > 0 {
			want.WriteString(",")
		}
		want.WriteString("\n")
		want.Write(d)
	}
	want.WriteString("\n]\n")
	if err := w.Close(); err != nil || !bytes.Equal(out.Bytes(), want.Bytes()) || w.Bytes() != int64(want.Len()) {
		t.Fatalf("err %v, %d bytes (Bytes %d), want %d", err, out.Len(), w.Bytes(), want.Len())
	}
}
