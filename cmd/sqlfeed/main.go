// Command sqlfeed exports database queries as versioned JSON feeds (CONTRACT §2):
//
//	sqlfeed run      [--config FILE] [--db DSN] [--to URL] [--json] [--dry-run] [--force] [FEED ...]
//	sqlfeed validate [--config FILE] [--db DSN] [--template FILE]
//	sqlfeed list     [--config FILE] [--to URL]
//	sqlfeed promote  [--config FILE] [--to URL] [--json] FEED VERSION
//	sqlfeed check    [--json] [--max-age DURATION] URL
//	sqlfeed serve    [--addr HOST:PORT] DIR
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // feed time zones without a system zoneinfo

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	_ "github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	_ "github.com/sqlfeed/sqlfeed/infra/blob/s3blob"
	_ "github.com/sqlfeed/sqlfeed/transform/artistcard"
)

func main() {
	storeOpened = func(s blob.Store) { exporters.SetMemoryLimit(s) }
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
