package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/exporters/check"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
)

// This file holds the operator commands: check, serve and promote.

// check verifies what is published at a URL, as a consumer sees it.
func (c *cli) check(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("sqlfeed check", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { fmt.Fprint(c.stderr, usage) }
	asJSON := fs.Bool("json", false, `print {"ok", "problems", "feeds"} as JSON`)
	maxAge := fs.Duration("max-age", 0, "longest time since a feed was last confirmed (default: twice its schedule interval)")
	workers := fs.Int("concurrency", 4, "feeds, and pages, checked at once")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 || *maxAge < 0 || *workers < 1 {
		fmt.Fprintf(c.stderr, "sqlfeed check: want one URL (https://…, http://…, file://DIR, s3://bucket/prefix)\n%s", usage)
		return exitUsage
	}
	opt := check.Options{MaxAge: *maxAge, Concurrency: *workers}
	var mu sync.Mutex
	var last time.Time
	if c.tty && !*asJSON {
		opt.Progress = func(feed string, n int64) {
			mu.Lock()
			defer mu.Unlock()
			if time.Since(last) > 200*time.Millisecond {
				last = time.Now()
				fmt.Fprintf(c.stderr, "\r\033[K%s: %s read", feed, humanBytes(n))
			}
		}
	}
	rep, err := check.Run(ctx, pos[0], opt)
	if err != nil {
		fmt.Fprintf(c.stderr, "sqlfeed check: %v\n", err)
		return exitUsage
	}
	if c.tty && !*asJSON {
		fmt.Fprint(c.stderr, "\r\033[K")
	}
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(c.stdout, string(b))
	} else {
		for _, l := range rep.Lines() {
			fmt.Fprintln(c.stdout, l)
		}
		if isTerminal(c.stdout) {
			c.checkTable(rep)
		}
		n := len(rep.Lines())
		fmt.Fprintf(c.stderr, "sqlfeed check %s: %d feeds, %d problems\n", pos[0], len(rep.Feeds), n)
	}
	if !rep.OK {
		return exitFailed
	}
	return exitOK
}

func (c *cli) checkTable(rep *check.Report) {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nFEED\tSTATUS\tVERSION\tROWS\tBYTES\tPAGES\tCONFIRMED\tMAX AGE")
	for _, f := range rep.Feeds {
		status := "ok"
		if len(f.Problems) > 0 {
			status = fmt.Sprintf("%d problems", len(f.Problems))
		}
		pages, age, limit := "-", "-", "-"
		if f.Paged {
			pages = fmt.Sprint(f.Pages)
		}
		if !f.Confirmed.IsZero() {
			age = time.Since(f.Confirmed).Round(time.Second).String() + " ago"
		}
		if f.MaxAge > 0 {
			limit = f.MaxAge.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", f.Feed, status, f.Version, f.Rows, humanBytes(f.Bytes), pages, age, limit)
	}
	tw.Flush()
}

// serve serves a published folder over HTTP with its stored metadata.
func (c *cli) serve(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("sqlfeed serve", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { fmt.Fprint(c.stderr, usage) }
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintf(c.stderr, "sqlfeed serve: want one folder\n%s", usage)
		return exitUsage
	}
	if fi, err := os.Stat(pos[0]); err != nil || !fi.IsDir() {
		return c.fail(exitUsage, fmt.Errorf("serve %s: not a folder", pos[0]))
	}
	store, err := fileblob.Open(pos[0])
	if err != nil {
		return c.fail(exitFailed, err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return c.fail(exitFailed, err)
	}
	srv := &http.Server{Handler: fileblob.Handler(store), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut) //nolint:errcheck // exiting anyway
	}()
	c.logger().Info("serving", "dir", pos[0], "url", "http://"+ln.Addr().String()+"/")
	fmt.Fprintf(c.stderr, "serving %s on http://%s/ (Ctrl-C to stop)\n", pos[0], ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return c.fail(exitFailed, err)
	}
	return exitOK
}

// promote makes a kept older version of a feed current again.
func (c *cli) promote(ctx context.Context, o options, args []string) int {
	if len(args) != 2 {
		fmt.Fprintf(c.stderr, "sqlfeed promote: want FEED VERSION (see the feed's manifest.json versions)\n%s", usage)
		return exitUsage
	}
	cfg, err := loadConfig(ctx, o.config)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	if cfg.Feed(args[0]) == nil {
		return c.fail(exitUsage, fmt.Errorf("unknown feed %q (see sqlfeed list)", args[0]))
	}
	store, err := blob.Open(ctx, o.to)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	defer store.Close()
	r := &exporters.Runner{Config: cfg, Store: store, Log: c.logger()}
	res, err := r.Promote(ctx, args[0], args[1])
	if err != nil {
		return c.fail(exitUsage, err)
	}
	results := []exporters.Result{res}
	resp := exporters.NewResponse(results)
	if o.json {
		b, _ := json.MarshalIndent(resp, "", "  ")
		fmt.Fprintln(c.stdout, string(b))
	} else {
		c.summary(results)
	}
	if res.Status == exporters.StatusError {
		return exitFailed
	}
	return exitOK
}
