// Command sqlfeed exports database queries as versioned JSON feeds (CONTRACT §2):
//
//	sqlfeed run      [--config FILE] [--db DSN] [--to URL] [--json] [FEED ...]
//	sqlfeed validate [--config FILE] [--db DSN]
//	sqlfeed list     [--config FILE] [--to URL]
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	_ "time/tzdata" // feed time zones without a system zoneinfo

	"github.com/sqlfeed/sqlfeed/infra/blob"
	_ "github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	_ "github.com/sqlfeed/sqlfeed/infra/blob/s3blob"
	_ "github.com/sqlfeed/sqlfeed/transform/artistcard"
)

// baseMemory is what an export needs besides its upload buffers: read-ahead
// batches, encoder buffers, driver and runtime (about 20 MiB).
const baseMemory = 20 << 20

// setMemoryLimit sets the Go runtime's soft memory limit, unless GOMEMLIMIT
// is set, to baseMemory plus what the store's uploads hold (S3: part size ×
// (concurrency + 1), 20 MiB by default). With the default GOGC alone the heap
// grows to twice the live data before a collection, and the process's RSS past
// the 64 MiB target of docs/benchmarks.md; the limit makes the collector
// (cheap here: part buffers hold no pointers) and the scavenger keep it near
// the live data. Sized from the store, so larger parts do not make the
// collector run without pause; it is soft: a mapper that needs more memory
// gets it, at the cost of more frequent collections.
func setMemoryLimit(store blob.Store) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	uploads := int64(20 << 20)
	if m, ok := store.(interface{ UploadMemory() int64 }); ok {
		uploads = m.UploadMemory()
	}
	debug.SetMemoryLimit(baseMemory + uploads)
}

func main() {
	storeOpened = setMemoryLimit
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
