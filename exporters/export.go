// Package exporters runs feeds: query → map → encode → upload → publish
// (CONTRACT §1). A run of one feed either publishes a complete new version,
// finds the content unchanged, loses to a newer run (skipped), or fails and
// leaves the previously published version in place.
package exporters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters/encode"
	"github.com/sqlfeed/sqlfeed/exporters/site"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/transform"
)

// Feed statuses in Result.Status.
const (
	StatusSuccess   = "success"   // a new version was published
	StatusUnchanged = "unchanged" // same content as the published version: nothing written
	StatusSkipped   = "skipped"   // a newer (or same-time) version is already published
	StatusError     = "error"     // failed; the previous version stays served
)

// Request says which feeds to run and the time that names their versions.
type Request struct {
	Feeds         []string  // empty: all feeds of the config
	ScheduledTime time.Time // zero: the runner's clock
	// Force publishes a run that loses more rows than the feed's max_shrink
	// allows (sqlfeed run --force FEED); min_rows still holds.
	Force bool
}

// Result is the outcome of one feed (CONTRACT §6 data.feeds[]).
type Result struct {
	Feed       string `json:"feed"`
	Status     string `json:"status"`
	Version    string `json:"version,omitempty"`
	Rows       int64  `json:"rows"`
	Bytes      int64  `json:"bytes"`
	SHA256     string `json:"sha256,omitempty"`
	DurationMS int64  `json:"duration_ms"`
	Warnings   int    `json:"warnings"`
	Message    string `json:"message,omitempty"`
}

// Runner exports feeds from one database to one store.
type Runner struct {
	Config   *config.File
	DB       *db.DB
	Store    blob.Store
	Registry *transform.Registry // nil: transform.Default
	Log      *slog.Logger        // nil: slog.Default()
	Now      func() time.Time    // nil: time.Now
	// Progress, when set, is called about every 100ms during a feed's export.
	Progress func(feed string, rows, bytes int64)
	// State is the state prefix of sharded runs (CONTRACT §6: plans and
	// shard results; s3://<bucket>/_sqlfeed-state or a folder's
	// .sqlfeed/state). Plan, Shard and Commit need it; without it Run
	// exports a sharded feed in one pass, with the same pages.
	State blob.Store
	// Workers is how many key ranges of a sharded feed Run exports at once
	// (sqlfeed run --workers; 0 means 1); the DB pool needs that many
	// connections.
	Workers int
	// hook is a test hook run after each publish step (stepEncoded …
	// stepSchema); an error it returns stops the run there like a crash.
	hook func(feed, step string) error
	// sleep, when set, replaces waiting d (tests with a fake clock).
	sleep func(ctx context.Context, d time.Duration) error
	// runID, when set, replaces the random run ids (tests comparing stores).
	runID func() string
}

// UnknownFeedError is returned by Run for a requested feed that the config lacks.
type UnknownFeedError struct{ Name string }

// Error names the unknown feed.
func (e *UnknownFeedError) Error() string { return fmt.Sprintf("unknown feed %q", e.Name) }

// Run exports the requested feeds one after another and then updates the
// catalog (index.json, index.html). It returns one Result per feed; err is
// only for a bad request (unknown feed).
func (r *Runner) Run(ctx context.Context, req Request) ([]Result, error) {
	feeds := r.Config.Feeds
	if len(req.Feeds) > 0 {
		feeds = nil
		for _, name := range req.Feeds {
			f := r.Config.Feed(name)
			if f == nil {
				return nil, &UnknownFeedError{Name: name}
			}
			feeds = append(feeds, f)
		}
	}
	results := make([]Result, 0, len(feeds))
	changed := false
	for _, f := range feeds {
		res := r.runFeed(ctx, f, req.ScheduledTime, req.Force)
		results = append(results, res)
		changed = changed || res.Status == StatusSuccess
	}
	if err := r.writeCatalog(ctx); err != nil {
		r.log().Error("catalog", "error", err.Error())
		if changed {
			// The feeds are published; a stale catalog is reported on each.
			for i := range results {
				if results[i].Status == StatusSuccess {
					results[i].Message = "published, but index.json was not updated: " + err.Error()
				}
			}
		}
	}
	return results, nil
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

func (r *Runner) registry() *transform.Registry {
	if r.Registry != nil {
		return r.Registry
	}
	return transform.Default
}

// runFeed exports one feed and logs the outcome. scheduled is zero for a
// manual run; force overrides max_shrink.
func (r *Runner) runFeed(ctx context.Context, f *config.Feed, scheduled time.Time, force bool) Result {
	if f.Pages != nil && f.Shards > 0 && r.State != nil {
		// Without a state store a sharded feed runs in one pass: its pages
		// and index are the same whatever the number of shards (CONTRACT §3).
		return r.runSharded(ctx, f, scheduled, force)
	}
	start := time.Now()
	res, err := r.export(ctx, f, scheduled, force)
	res.Feed = f.Name
	res.DurationMS = time.Since(start).Milliseconds()
	attrs := []any{"feed", f.Name, "status", res.Status, "version", res.Version, "rows", res.Rows,
		"bytes", res.Bytes, "duration_ms", res.DurationMS, "warnings", res.Warnings}
	if err != nil {
		res.Status, res.Message = StatusError, err.Error()
		r.log().Error("export failed", append(attrs[:2:2], "status", res.Status, "rows", res.Rows,
			"duration_ms", res.DurationMS, "error", res.Message)...)
		return res
	}
	r.log().Info("export", attrs...)
	return res
}

// export streams the feed's query through its mapper and encoder straight
// to the key of a new version, then publishes it. On any error the upload is
// discarded. A scheduled run not newer than the published version is skipped
// before the query runs; a run with fewer rows than the feed's guards allow
// fails before anything is committed (checkRows).
func (r *Runner) export(ctx context.Context, f *config.Feed, scheduled time.Time, force bool) (res Result, err error) {
	mapper, err := r.registry().New(f.Mapper, f.Spec())
	if err != nil {
		return res, fmt.Errorf("%s: %w", f.Pos, err)
	}
	st, err := r.readState(ctx, f.Name)
	if err != nil {
		return res, err
	}
	if staleSchedule(st.cur, scheduled) {
		res.Status, res.Version = StatusSkipped, st.cur.Version
		return res, r.repair(ctx, f.Name, nil)
	}
	at := r.runTime(st, scheduled)
	var runID string
	if r.runID != nil {
		runID = r.runID()
	} else if runID, err = newRunID(); err != nil {
		return res, err
	}
	version := VersionName(at, runID)

	cur, err := r.DB.Query(ctx, feedQuery(f, r.DB.Engine()))
	if err != nil {
		return res, err
	}
	defer cur.Close()
	env := transform.NewEnv(f.Location)
	schema, err := transform.Bind(mapper, cur.Columns(), env)
	if err != nil {
		return res, err
	}
	schemaJSON, schemaSum, err := schemaBytes(f.Name, schema)
	if err != nil {
		return res, err
	}
	d := document{feed: f, version: version, at: at, manual: scheduled.IsZero(), schema: schemaJSON, schemaSHA256: schemaSum}
	if f.Pages != nil {
		return r.exportPaged(ctx, st, cur, mapper, schema, env, d, force)
	}
	contentType, contentEncoding := encode.ContentType(f.Format), encode.ContentEncoding(f.Compress)
	up, err := r.Store.NewUpload(ctx, versionKey(f.Name, version), blob.WriteOptions{
		Meta: versionMeta(version, contentType, contentEncoding), IfNoneMatch: true})
	if err != nil {
		return res, fmt.Errorf("start upload: %w", err)
	}
	defer abortUnlessKilled(ctx, up, &err)
	enc, err := encode.NewPipelined(up, f.Format, f.Compress)
	if err != nil {
		return res, err
	}
	defer enc.Abort() // after Close: nothing; on failure: before the upload's Abort
	preview := &site.Capture{}
	if err := r.stream(ctx, f.Name, cur, mapper, enc, previewSink{next: enc, capture: preview}); err != nil {
		res.Rows = enc.Rows()
		return res, err
	}
	if err := cur.Close(); err != nil {
		return res, fmt.Errorf("end query: %w", err)
	}
	res.Rows, res.Bytes, res.SHA256, res.Warnings = enc.Rows(), enc.Bytes(), enc.SHA256(), env.Warnings
	r.logWarnings(f.Name, env)
	if err := r.step(f.Name, stepEncoded); err != nil {
		return res, err
	}
	d.rows, d.bytes, d.sha256 = res.Rows, res.Bytes, res.SHA256
	d.contentType, d.contentEncoding = contentType, enc.ContentEncoding()
	return r.finish(ctx, up, st, d, preview, res, force)
}

// feedQuery returns the feed's SQL for engine, reading all its rows: a query
// that writes its key range with :lo and :hi (sharded feeds) gets them bound
// as NULL literals (unbounded).
func feedQuery(f *config.Feed, engine string) string {
	q := f.QueryFor(engine)
	if !db.HasRangePlaceholders(engine, q) {
		return q
	}
	return db.UnboundedQuery(engine, q)
}

// abortUnlessKilled discards an upload when the export fails (*err), but not
// after a simulated crash, which cleans nothing up.
func abortUnlessKilled(ctx context.Context, up blob.Upload, err *error) {
	if errors.As(*err, new(killed)) {
		return
	}
	if aerr := up.Abort(context.WithoutCancel(ctx)); aerr != nil && *err == nil {
		*err = fmt.Errorf("discard upload: %w", aerr)
	}
}

// logWarnings logs a run's conversion warnings, if any.
func (r *Runner) logWarnings(feed string, env *transform.Env) {
	if env.Warnings > 0 {
		r.log().Warn("conversion warnings", "feed", feed, "warnings", env.Warnings, "first", env.FirstWarning)
	}
}

// finish applies the feed's row guards (checkRows, unless force for
// max_shrink), publishes the encoded document d (its version object in up)
// and then rewrites the feed's page.
func (r *Runner) finish(ctx context.Context, up blob.Upload, st state, d document, preview *site.Capture, res Result, force bool) (Result, error) {
	if err := checkRows(d.feed, st.cur, res.Rows, force); err != nil {
		return res, err
	}
	var err error
	res.Status, res.Version, err = r.publish(ctx, up, st, d)
	if err == nil {
		if perr := r.writeFeedPage(ctx, d.feed, preview.Preview(res.SHA256)); perr != nil {
			r.log().Error("feed page", "feed", d.feed.Name, "error", perr.Error())
			res.Message = "the feed's page was not updated: " + perr.Error()
		}
	}
	return res, err
}

// checkRows applies the feed's row guards to a run of rows documents, before
// its version is committed: min_rows, and max_shrink against the published
// version cur (unless force). The error names the feed and the rule.
func checkRows(f *config.Feed, cur *Manifest, rows int64, force bool) error {
	if rows < int64(f.MinRows) {
		return fmt.Errorf("feed %q: %d documents, fewer than min_rows %d: nothing published, the previous version stays (min_rows: 0 allows an empty feed)",
			f.Name, rows, f.MinRows)
	}
	if f.MaxShrink == 0 || force || cur == nil || cur.Rows == 0 || rows >= cur.Rows {
		return nil
	}
	if lost := float64(cur.Rows-rows) / float64(cur.Rows); lost > f.MaxShrink {
		return fmt.Errorf("feed %q: %d documents, %.1f%% fewer than the published version's %d, more than max_shrink %g allows: nothing published, the previous version stays (sqlfeed run --force %s publishes it)",
			f.Name, rows, 100*lost, cur.Rows, f.MaxShrink, f.Name)
	}
	return nil
}

// docStream is what stream reports progress from and closes: the encoder of
// one document, or the pages of a paged feed.
type docStream interface {
	Rows() int64
	Bytes() int64
	Close() error
}

// stream moves every row through the mapper into the encoder. Reading runs on
// a goroutine of its own (see readAhead), and the encoder hashes, compresses
// and uploads on another (encode.NewPipelined): database, mapping and upload
// overlap, joined by bounded queues. The mapper writes to out, which passes
// the documents on to enc.
func (r *Runner) stream(ctx context.Context, feed string, cur *db.Cursor, m transform.Mapper, enc docStream, out transform.Sink) error {
	ra := newReadAhead(len(cur.Columns()))
	batches := ra.batches
	done := make(chan struct{})
	readErr := make(chan error, 1)
	go func() { readErr <- ra.read(ctx, cur, done) }()
	stopReader := func() error {
		close(done)
		for range batches { // let the reader see done
		}
		return <-readErr
	}
	var n int
	last := time.Now()
	finished, _ := enc.(interface{ Done() bool }) // a shard's pages reached their last boundary
	for b := range batches {
		for i := range b.n {
			if err := m.Map(b.row(i), out); err != nil {
				stopReader()
				return fmt.Errorf("row %d: %w", n+1, err)
			}
			n++
		}
		ra.release(b)
		if err := ctx.Err(); err != nil {
			stopReader()
			return err
		}
		if r.Progress != nil && time.Since(last) > 100*time.Millisecond {
			last = time.Now()
			r.Progress(feed, enc.Rows(), enc.Bytes())
		}
		if finished != nil && finished.Done() {
			break // stopReader cancels the rest of the query
		}
	}
	if err := stopReader(); err != nil {
		return fmt.Errorf("after %d rows: %w", n, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.Flush(out); err != nil {
		return fmt.Errorf("after %d rows: flush mapper: %w", n, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if r.Progress != nil {
		r.Progress(feed, enc.Rows(), enc.Bytes())
	}
	return nil
}

// The read-ahead is bounded in rows and in bytes: a batch ends at batchRows
// rows or once it holds batchBytes of values, and the reader reads no row
// while the batches in flight hold readAheadBytes, unless none is in flight
// (so a row larger than the bounds passes alone).
const (
	batchRows      = 256
	batchBytes     = 4 << 20
	readAheadBytes = 16 << 20
	batchesInUse   = 4
)

// rowBatch holds rows read ahead of the mapper: values copied from the
// cursor's rows (db.Cursor's values never alias its buffers: see Cursor.Row).
type rowBatch struct {
	cols  int
	n     int
	bytes int64 // the values' size (valueSize)
	vals  []transform.Value
}

func (b *rowBatch) row(i int) []transform.Value {
	return b.vals[i*b.cols : (i+1)*b.cols : (i+1)*b.cols]
}

// readAhead moves batches of rows from the reader goroutine to the mapper.
type readAhead struct {
	batches chan *rowBatch // filled, for the mapper
	free    chan *rowBatch // recycled, for the reader
	freed   chan struct{}  // a batch came back (capacity 1: a wake-up)
	// inFlight is the bytes of the batches sent and not yet released.
	inFlight atomic.Int64
}

func newReadAhead(cols int) *readAhead {
	ra := &readAhead{batches: make(chan *rowBatch, batchesInUse-2), free: make(chan *rowBatch, batchesInUse),
		freed: make(chan struct{}, 1)}
	for range batchesInUse {
		ra.free <- &rowBatch{cols: cols, vals: make([]transform.Value, cols*batchRows)}
	}
	return ra
}

// release gives a mapped batch back to the reader.
func (ra *readAhead) release(b *rowBatch) {
	ra.inFlight.Add(-b.bytes)
	clear(b.vals[:b.n*b.cols]) // let the values go now, not when the batch is refilled
	ra.free <- b
	select {
	case ra.freed <- struct{}{}:
	default:
	}
}

// read fills recycled batches from cur and sends them, until the rows end,
// ctx is cancelled or done is closed. It closes batches and returns the
// cursor's error.
func (ra *readAhead) read(ctx context.Context, cur *db.Cursor, done <-chan struct{}) error {
	defer close(ra.batches)
	for {
		var b *rowBatch
		select {
		case b = <-ra.free:
		case <-done:
			return nil
		}
		b.n, b.bytes = 0, 0
		more := true
		for b.n < batchRows && b.bytes < batchBytes {
			for inFlight := ra.inFlight.Load(); inFlight > 0 && inFlight+b.bytes >= readAheadBytes; inFlight = ra.inFlight.Load() {
				select {
				case <-ra.freed:
				case <-done:
					return nil
				}
			}
			if more = cur.Next(); !more {
				break
			}
			row := cur.Row()
			copy(b.vals[b.n*b.cols:], row)
			for _, v := range row {
				b.bytes += valueSize(v)
			}
			b.n++
		}
		if b.n > 0 {
			ra.inFlight.Add(b.bytes)
			select {
			case ra.batches <- b:
			case <-done:
				return nil
			}
		}
		if !more {
			return cur.Err()
		}
		if err := ctx.Err(); err != nil {
			return nil // the consumer reports it
		}
	}
}

// valueSize is about the memory a row value holds.
func valueSize(v transform.Value) int64 {
	switch x := v.(type) {
	case []byte:
		return int64(len(x)) + 24
	case string:
		return int64(len(x)) + 16
	case transform.Decimal:
		return int64(len(x)) + 16
	case []any:
		n := int64(24)
		for _, e := range x {
			n += valueSize(e)
		}
		return n
	}
	return 16
}

// IsBadRequest reports whether err is a request error (unknown feed).
func IsBadRequest(err error) bool {
	var u *UnknownFeedError
	return errors.As(err, &u)
}
