package transform

import (
	"strings"
	"testing"
)

// benchJSON is a typical embedded document (~2 KiB: objects, numbers, text).
var benchJSON = []byte(`{"id": 12345, "tags": ["rock", "metal", "live"], "album": {"title": "Live After Death", "year": 1985,
 "tracks": [` + strings.Repeat(`{"n": 1, "name": "Aces High (Live) – Motörhead cover", "ms": 271000, "price": 0.99, "explicit": false}, `, 15) +
	`{"n": 16, "name": "Running Free", "ms": 198000, "price": 0.99, "explicit": null}]}}`)

// BenchmarkAppendJSON compares the server-validated (trusted) path with the
// strict one.
func BenchmarkAppendJSON(b *testing.B) {
	for _, tc := range []struct {
		name string
		col  Column
	}{{"trusted", Column{Name: "j", Kind: KindJSON, ValidJSON: true}}, {"strict", Column{Name: "j", Kind: KindJSON}}} {
		b.Run(tc.name, func(b *testing.B) {
			env, dst := NewEnv(nil), make([]byte, 0, 4096)
			b.SetBytes(int64(len(benchJSON)))
			for b.Loop() {
				var err error
				if dst, err = env.Append(dst[:0], benchJSON, &tc.col, KindAny, -1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
