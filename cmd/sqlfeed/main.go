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

	_ "github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	_ "github.com/sqlfeed/sqlfeed/infra/blob/s3blob"
	_ "github.com/sqlfeed/sqlfeed/transform/artistcard"
)

// memoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT is set.
// An export's live heap is about 20 MiB (S3 part buffers, read-ahead batches);
// with the default GOGC the heap would grow to twice that before a collection
// and the process's RSS past the 64 MiB target of docs/benchmarks.md. The
// limit makes the collector (cheap here: the part buffers hold no pointers)
// and the scavenger keep it lower. It is soft: a mapper that needs more memory
// gets it, at the cost of more frequent collections.
const memoryLimit = 40 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
