package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	json "github.com/goccy/go-json"

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// Exit codes of CONTRACT §2.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

const usage = `usage:
  sqlfeed run      [--config FILE] [--db DSN] [--to URL] [--workers N] [--json] [--dry-run] [--force] [FEED ...]   export now (--dry-run: write nothing)
  sqlfeed validate [--config FILE] [--db DSN] [--template FILE]                 check config (queries with --db; SAM schedules with --template)
  sqlfeed list     [--config FILE] [--to URL]                                   feeds, schedules, destinations
  sqlfeed promote  [--config FILE] [--to URL] [--json] FEED VERSION           make a kept older version current again (rollback)
  sqlfeed check    [--json] [--max-age DURATION] URL                            verify what is published, as a consumer sees it
  sqlfeed serve    [--addr HOST:PORT] DIR                                       serve a published folder with its stored metadata

Defaults: --config sqlfeed.yaml, --db sqlite://testdata/chinook.db, --to file://public
(environment: SQLFEED_CONFIG, SQLFEED_DB, SQLFEED_TO).
`

// options are the flags shared by the subcommands.
type options struct {
	config, db, to string
	template       string // validate: SAM template whose schedules must match the feeds
	dbSet          bool
	json           bool
	dryRun         bool // run: read, map and encode, write nothing
	force          bool // run: publish the named feeds past their max_shrink
	workers        int  // run: key ranges of sharded feeds exported at once
}

// storeOpened, when set (by main: not in tests), is called with the store of
// a run before it starts.
var storeOpened func(blob.Store)

// cli is one invocation's streams.
type cli struct {
	stdout, stderr io.Writer
	// tty is true when stderr is a terminal (progress line, quieter logs).
	tty bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, tty: isTerminal(stderr)}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd { // their own flags
	case "check":
		return c.check(ctx, rest)
	case "serve":
		return c.serve(ctx, rest)
	}
	fs := flag.NewFlagSet("sqlfeed "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	var o options
	fs.StringVar(&o.config, "config", envOr("SQLFEED_CONFIG", "sqlfeed.yaml"), "config file")
	fs.StringVar(&o.db, "db", envOr("SQLFEED_DB", "sqlite://testdata/chinook.db"), "database DSN")
	fs.StringVar(&o.to, "to", envOr("SQLFEED_TO", "file://public"), "destination URL")
	fs.BoolVar(&o.json, "json", false, "print the standard response as JSON")
	if cmd == "run" {
		fs.BoolVar(&o.dryRun, "dry-run", false, "read, map and encode everything and report what would be published, writing nothing")
		fs.BoolVar(&o.force, "force", false, "publish the named feeds even when they lost more rows than their max_shrink allows")
		fs.IntVar(&o.workers, "workers", 1, "key ranges of sharded feeds exported at once, one database connection each")
	}
	if cmd == "validate" {
		fs.StringVar(&o.template, "template", "", "SAM template (template.yaml) to check against the feeds")
	}
	names, err := parseInterleaved(fs, rest)
	if err != nil {
		return exitUsage
	}
	fs.Visit(func(f *flag.Flag) { o.dbSet = o.dbSet || f.Name == "db" })
	_, envDB := os.LookupEnv("SQLFEED_DB")
	o.dbSet = o.dbSet || envDB

	switch cmd {
	case "run":
		return c.run(ctx, o, names)
	case "validate":
		return c.validate(ctx, o)
	case "list":
		return c.list(ctx, o)
	case "promote":
		return c.promote(ctx, o, names)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "sqlfeed: unknown command %q\n%s", cmd, usage)
	return exitUsage
}

// parseInterleaved parses flags that may come after positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (c *cli) logger() *slog.Logger {
	level := slog.LevelInfo
	if c.tty {
		level = slog.LevelWarn // people get the summary table instead
	}
	return slog.New(slog.NewJSONHandler(c.stderr, &slog.HandlerOptions{Level: level}))
}

func (c *cli) fail(code int, err error) int {
	fmt.Fprintf(c.stderr, "sqlfeed: %v\n", err)
	return code
}

func (c *cli) run(ctx context.Context, o options, feeds []string) int {
	cfg, err := loadConfig(ctx, o.config)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	for _, name := range feeds {
		if cfg.Feed(name) == nil {
			return c.fail(exitUsage, fmt.Errorf("unknown feed %q (see sqlfeed list)", name))
		}
	}
	if o.force && len(feeds) == 0 {
		return c.fail(exitUsage, errors.New("--force applies to the feeds named: sqlfeed run --force FEED [FEED]"))
	}
	if o.workers < 1 {
		return c.fail(exitUsage, fmt.Errorf("--workers %d: want at least 1", o.workers))
	}
	source, err := openDB(ctx, o.db, o.workers)
	if err != nil {
		return c.fail(exitFailed, err)
	}
	defer source.Close()
	store, err := blob.Open(ctx, o.to)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	stateURL, err := stateURL(o.to)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	if o.dryRun { // the shards' results must be read back: a scratch folder
		tmp, err := os.MkdirTemp("", "sqlfeed-state-")
		if err != nil {
			return c.fail(exitFailed, err)
		}
		defer os.RemoveAll(tmp)
		stateURL = "file://" + tmp
	}
	state, err := blob.Open(ctx, stateURL)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	if o.dryRun {
		store = blob.DryRun(store)
	}
	defer store.Close()
	defer state.Close()
	if storeOpened != nil {
		storeOpened(store)
	}
	r := &exporters.Runner{Config: cfg, DB: source, Store: store, State: state, Workers: o.workers, Log: c.logger()}
	if c.tty {
		r.Progress = c.progress()
	}
	results, err := r.Run(ctx, exporters.Request{Feeds: feeds, Force: o.force})
	if err != nil {
		return c.fail(exitUsage, err)
	}
	resp := exporters.NewResponse(results)
	if o.dryRun {
		resp.Message = "dry run: nothing was written; " + resp.Message
	}
	if o.json {
		b, _ := json.MarshalIndent(resp, "", "  ")
		fmt.Fprintln(c.stdout, string(b))
	} else {
		c.summary(results)
		if o.dryRun {
			fmt.Fprintln(c.stdout, "dry run: nothing was written")
		}
	}
	if resp.Status == exporters.ResponseError {
		return exitFailed
	}
	return exitOK
}

// stateURL is where sharded runs keep their plans and shard results
// (CONTRACT §6): SQLFEED_STATE, else a folder's .sqlfeed/state, or the
// bucket's _sqlfeed-state prefix, outside the public one.
func stateURL(to string) (string, error) {
	if s := os.Getenv("SQLFEED_STATE"); s != "" {
		return s, nil
	}
	u, err := url.Parse(to)
	if err != nil {
		return "", fmt.Errorf("destination %q: %w", to, err)
	}
	switch u.Scheme {
	case "s3":
		return "s3://" + u.Host + "/_sqlfeed-state", nil
	case "file":
		return strings.TrimRight(to, "/") + "/.sqlfeed/state", nil
	}
	return "", fmt.Errorf("destination %q: no state prefix for this scheme (set SQLFEED_STATE)", to)
}

// progress returns a callback drawing one status line on the terminal.
func (c *cli) progress() func(feed string, rows, bytes int64) {
	var cur string
	var start time.Time
	return func(feed string, rows, bytes int64) {
		if feed != cur {
			cur, start = feed, time.Now()
		}
		rate := float64(rows) / max(time.Since(start).Seconds(), 1e-3)
		fmt.Fprintf(c.stderr, "\r\033[K%s: %d rows, %.0f rows/s, %s", feed, rows, rate, humanBytes(bytes))
	}
}

func (c *cli) summary(results []exporters.Result) {
	if c.tty {
		fmt.Fprint(c.stderr, "\r\033[K")
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, r := range results {
		line := fmt.Sprintf("%s\t%s\t%s\t%d rows\t%s\t%d ms", r.Feed, r.Status, r.Version, r.Rows, humanBytes(r.Bytes), r.DurationMS)
		if r.Warnings > 0 {
			line += fmt.Sprintf("\t%d warnings", r.Warnings)
		}
		if r.Message != "" {
			line += "\t" + r.Message
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// validate checks the config and, with a database, every feed's query and
// mapped columns without reading rows. It writes nothing.
func (c *cli) validate(ctx context.Context, o options) int {
	cfg, err := loadConfig(ctx, o.config)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	if o.template != "" {
		if err := checkTemplate(cfg, o.template); err != nil {
			return c.fail(exitUsage, err)
		}
		fmt.Fprintf(c.stdout, "%s: one schedule per feed, same expressions, on the alias; security and safe-deploy checks pass\n", o.template)
	}
	if !o.dbSet {
		fmt.Fprintf(c.stdout, "%s: %d feeds ok (queries not checked: pass --db to check them)\n", o.config, len(cfg.Feeds))
		return exitOK
	}
	source, err := openDB(ctx, o.db, 1)
	if err != nil {
		return c.fail(exitFailed, err)
	}
	defer source.Close()
	if w, err := source.WriteAccess(ctx); err != nil {
		fmt.Fprintf(c.stderr, "warning: %v\n", err)
	} else if w != "" {
		fmt.Fprintf(c.stderr, "warning: the database user can write (%s); sqlfeed needs SELECT only: see the README, least-privilege database user\n", w)
	}
	var problems []string
	for _, f := range cfg.Feeds {
		if err := exporters.ValidateFeed(ctx, source, f, nil); err != nil {
			problems = append(problems, fmt.Sprintf("feed %q: %v", f.Name, err))
		}
	}
	if len(problems) > 0 {
		return c.fail(exitUsage, errors.New(strings.Join(problems, "\n")))
	}
	fmt.Fprintf(c.stdout, "%s: %d feeds ok against %s\n", o.config, len(cfg.Feeds), source.DSN)
	return exitOK
}

func (c *cli) list(ctx context.Context, o options) int {
	cfg, err := loadConfig(ctx, o.config)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FEED\tSCHEDULE\tFORMAT\tMAPPER\tLATEST")
	for _, f := range cfg.Feeds {
		format := f.Format
		if f.Compress == "gzip" {
			format += "+gzip"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s/%s/latest.json\n", f.Name, f.Schedule, format, f.Mapper, strings.TrimRight(o.to, "/"), f.Name)
	}
	tw.Flush()
	return exitOK
}
