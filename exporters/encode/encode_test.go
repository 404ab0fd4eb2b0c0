package encode

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
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
		t.Run(tt.format+"/"+tt.compress, func(t *testing.T) {
			var out bytes.Buffer
			w, err := New(&out, tt.format, tt.compress)
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
	if _, err := New(io.Discard, "xml", None); err == nil {
		t.Fatal("unknown format accepted")
	}
}
