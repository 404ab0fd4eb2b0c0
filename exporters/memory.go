package exporters

import (
	"os"
	"runtime/debug"

	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// baseMemory is what an export needs besides its upload buffers: read-ahead
// batches, encoder buffers, driver and runtime (about 20 MiB).
const baseMemory = 20 << 20

// SetMemoryLimit sets the Go runtime's soft memory limit, unless GOMEMLIMIT
// is set, to baseMemory plus what the store's uploads hold (S3: part size ×
// (concurrency + 1), 20 MiB by default), and returns the limit (0: left alone).
// With the default GOGC alone the heap grows to twice the live data before a
// collection, and the process's RSS past the 64 MiB target of
// docs/benchmarks.md; the limit makes the collector (cheap here: part buffers
// hold no pointers) and the scavenger keep it near the live data. Sized from
// the store, so larger parts do not make the collector run without pause; it is
// soft: a mapper that needs more memory gets it, at the cost of more frequent
// collections. Call it once per process, after opening the store.
func SetMemoryLimit(store blob.Store) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	uploads := int64(20 << 20)
	if m, ok := store.(interface{ UploadMemory() int64 }); ok {
		uploads = m.UploadMemory()
	}
	limit := baseMemory + uploads
	debug.SetMemoryLimit(limit)
	return limit
}
