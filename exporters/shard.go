package exporters

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/sqlfeed/sqlfeed/exporters/encode"
	"github.com/sqlfeed/sqlfeed/exporters/paging"
	"github.com/sqlfeed/sqlfeed/exporters/site"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/transform"
)

// Sharded feeds (CONTRACT §3 shards, §6): Plan splits the pages.by key range
// into ranges, Shard exports one range into pages, Commit publishes their
// page index as one version. The three steps talk only through the state
// store (Runner.State), so each may run in another process: the Lambda
// state machine's steps, or Run's workers.
//
// A shard reads its range [lo, hi) but emits pages only from its first
// key-defined page boundary at or after lo (paging.Options.FromFirstBoundary),
// and then reads on from hi until the next key-defined boundary: so the
// neighbouring shards meet where the unsharded export cuts, and the pages are
// the same bytes for any number of shards.

// Plan is one sharded run of a feed, written by Plan to the state store.
type Plan struct {
	Feed            string    `json:"feed"`
	RunID           string    `json:"run_id"`  // 8 hex, as in version names
	Version         string    `json:"version"` // VersionName(at, RunID)
	ScheduledTime   time.Time `json:"scheduled_time,omitzero"`
	FunctionVersion string    `json:"function_version"` // recorded, opaque to exporters ("" locally)
	ConfigDigest    string    `json:"config_digest"`    // ConfigDigest of the feed
	// Force publishes past max_shrink (sqlfeed run --force).
	Force bool `json:"force,omitempty"`
	// Source says how the ranges were chosen: "index" (the published page
	// index), "min_max" (MIN/MAX of pages.by or plan_query), "single" (one
	// range: nothing to split on), "skipped" (the scheduled time is not newer
	// than the published version: no shards, and Commit reports skipped).
	Source string  `json:"source"`
	Shards []Range `json:"shards"`
}

// Range is one shard's key range [Lo, Hi).
type Range struct {
	Index int             `json:"index"`
	Lo    json.RawMessage `json:"lo"` // JSON value of pages.by as published; null = unbounded
	Hi    json.RawMessage `json:"hi"` // exclusive; null = unbounded
}

// PlanOptions are the settings Plan records.
type PlanOptions struct {
	FunctionVersion string // the executing function version (Lambda), "" locally
	Force           bool   // publish past max_shrink
}

// ShardResult is what a shard reports (the Lambda's shard answer); its page
// list stays in the state store.
type ShardResult struct {
	Index int   `json:"index"`
	Pages int   `json:"pages"`
	Rows  int64 `json:"rows"`
	// Start is the key of its first page's first document (null: no pages).
	Start json.RawMessage `json:"start"`
	// End is the key where its last page ended (null: no pages).
	End json.RawMessage `json:"end"`
	// After is the key of the boundary document the shard read through before
	// its first page (null for the first shard, or when it met no boundary):
	// the previous shard's pages must end exactly there.
	After json.RawMessage `json:"after"`
	// EOF: the shard's reading reached the end of the rows.
	EOF bool `json:"eof"`
}

// ErrConfigChanged is returned by Shard and Commit for a plan made under
// another config of the feed (its ConfigDigest differs): not retried.
var ErrConfigChanged = errors.New("the feed's config changed since the plan was made")

// TransientError is a database failure of the connection (server restarted,
// connection killed), not of the query: the step may succeed when retried.
type TransientError struct{ Err error }

// Error returns the database error's text.
func (e *TransientError) Error() string { return "transient database error: " + e.Err.Error() }

// Unwrap returns the database error.
func (e *TransientError) Unwrap() error { return e.Err }

// classify wraps a transient database error in a TransientError.
func classify(err error) error {
	var de *db.Error
	if err != nil && errors.As(err, &de) && de.Transient() && !errors.As(err, new(*TransientError)) {
		return &TransientError{Err: err}
	}
	return err
}

// ConfigDigest returns the hex SHA-256 of what defines a feed's output: its
// settings without their file positions.
func ConfigDigest(f *config.Feed) string {
	b, _ := json.Marshal(f)
	var v any
	_ = json.Unmarshal(b, &v)
	b, _ = json.Marshal(withoutPos(v)) // maps marshal sorted by key
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// withoutPos drops the "Pos" members (file:line, which moves when another
// feed is edited) and the parsed Location (Timezone names it).
func withoutPos(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "Pos")
		delete(x, "Location")
		for k, e := range x {
			x[k] = withoutPos(e)
		}
	case []any:
		for i, e := range x {
			x[i] = withoutPos(e)
		}
	}
	return v
}

// State keys (under Runner.State).
func planKey(feed, runID string) string { return feed + "/" + runID + "/plan.json" }
func shardKey(feed, runID string, i int) string {
	return feed + "/" + runID + "/shard-" + strconv.Itoa(i) + ".json"
}

// shardState is a shard's record in the state store: its result and what
// Commit needs to publish the version.
type shardState struct {
	ShardResult
	Entries      []paging.Entry  `json:"entries"`
	Bytes        int64           `json:"bytes"`
	Warnings     int             `json:"warnings"`
	Schema       json.RawMessage `json:"schema"` // schema.json's bytes
	SchemaSHA256 string          `json:"schema_sha256"`
	Preview      *site.Preview   `json:"preview,omitempty"` // the first shard's
	// ListedAt is when the shard listed the stored pages; Refreshed the pages
	// it refreshed (CONTRACT §5 "Page retention") and when.
	ListedAt    time.Time `json:"listed_at"`
	Refreshed   []string  `json:"refreshed,omitempty"`
	RefreshedAt time.Time `json:"refreshed_at,omitzero"`
}

// shardedFeed returns the feed of plan p, checking that it is sharded and
// that its config is the plan's.
func (r *Runner) shardedFeed(p *Plan) (*config.Feed, error) {
	f, err := r.sharded(p.Feed)
	if err != nil {
		return nil, err
	}
	if got := ConfigDigest(f); got != p.ConfigDigest {
		return nil, fmt.Errorf("feed %q, run %s: config digest %s, the plan's %s: %w", f.Name, p.RunID, got, p.ConfigDigest, ErrConfigChanged)
	}
	return f, nil
}

// sharded returns the named feed, which must be paged with shards.
func (r *Runner) sharded(name string) (*config.Feed, error) {
	f := r.Config.Feed(name)
	if f == nil {
		return nil, &UnknownFeedError{Name: name}
	}
	if f.Pages == nil || f.Shards == 0 {
		return nil, fmt.Errorf("%s: feed %q is not sharded (shards needs pages)", f.Pos, name)
	}
	if r.State == nil {
		return nil, fmt.Errorf("feed %q is sharded: no state store (SQLFEED_STATE)", name)
	}
	return f, nil
}

// putState writes v as JSON to the state store at key.
func (r *Runner) putState(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if _, err := r.State.Put(ctx, key, bytes.NewReader(b), blob.WriteOptions{Meta: blob.Meta{ContentType: "application/json"}}); err != nil {
		return fmt.Errorf("write state %s: %w", key, err)
	}
	return nil
}

// getState reads the JSON at key of the state store into v.
func (r *Runner) getState(ctx context.Context, key string, v any) error {
	b, _, err := blob.ReadAll(ctx, r.State, key)
	if err != nil {
		return fmt.Errorf("read state %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read state %s: %w", key, err)
	}
	return nil
}

// LoadPlan reads the plan of run runID of feed from the state store.
func (r *Runner) LoadPlan(ctx context.Context, feed, runID string) (*Plan, error) {
	if _, err := r.sharded(feed); err != nil {
		return nil, err
	}
	var p Plan
	if err := r.getState(ctx, planKey(feed, runID), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Plan starts a sharded run of feed: a run id, its version name, and at most
// shards key ranges of similar row counts (planRanges), written to the state
// store at <feed>/<run_id>/plan.json.
func (r *Runner) Plan(ctx context.Context, feed string, scheduled time.Time, opt PlanOptions) (*Plan, error) {
	p, err := r.plan(ctx, feed, scheduled, opt)
	return p, classify(err)
}

func (r *Runner) plan(ctx context.Context, feed string, scheduled time.Time, opt PlanOptions) (*Plan, error) {
	f, err := r.sharded(feed)
	if err != nil {
		return nil, err
	}
	st, err := r.readState(ctx, f.Name)
	if err != nil {
		return nil, err
	}
	runID := ""
	if r.runID != nil {
		runID = r.runID()
	} else if runID, err = newRunID(); err != nil {
		return nil, err
	}
	p := &Plan{Feed: f.Name, RunID: runID, Version: VersionName(r.runTime(st, scheduled), runID),
		FunctionVersion: opt.FunctionVersion, ConfigDigest: ConfigDigest(f), Force: opt.Force, Shards: []Range{}}
	if !scheduled.IsZero() {
		p.ScheduledTime = scheduled.UTC()
	}
	if staleSchedule(st.cur, scheduled) {
		p.Source = "skipped"
	} else {
		splits, source, err := r.planSplits(ctx, f, st.cur)
		if err != nil {
			return nil, err
		}
		p.Source = source
		lo := json.RawMessage("null")
		for i, s := range append(splits, json.RawMessage("null")) {
			p.Shards = append(p.Shards, Range{Index: i, Lo: lo, Hi: s})
			lo = s
		}
	}
	if err := r.putState(ctx, planKey(f.Name, runID), p); err != nil {
		return nil, err
	}
	return p, nil
}

// planSplits returns the keys between the ranges (at most shards-1,
// increasing) and how they were chosen. See README "Sharded feeds".
func (r *Runner) planSplits(ctx context.Context, f *config.Feed, cur *Manifest) ([]json.RawMessage, string, error) {
	if f.Shards < 2 {
		return nil, "single", nil
	}
	if cur != nil && cur.Paged {
		idx, err := readIndex(ctx, r.Store, cur.current().Key)
		if err != nil {
			return nil, "", err
		}
		if splits := indexSplits(idx.Pages, f.Shards); len(splits) > 0 {
			return splits, "index", nil
		}
	}
	lo, hi, err := r.keyBounds(ctx, f)
	if err != nil {
		return nil, "", err
	}
	if splits := spanSplits(lo, hi, f.Shards); len(splits) > 0 {
		return splits, "min_max", nil
	}
	return nil, "single", nil
}

// indexSplits splits at page starts (pages[j].First, a real page boundary)
// so that each range holds about 1/n of the pages' rows.
func indexSplits(pages []paging.Entry, n int) []json.RawMessage {
	var total int64
	for _, p := range pages {
		total += p.Rows
	}
	var splits []json.RawMessage
	var before int64 // rows of pages[:j]
	j, prev := 0, 0
	for k := 1; k < n; k++ {
		target := total * int64(k) / int64(n)
		for j < len(pages) && before+pages[j].Rows <= target {
			before += pages[j].Rows
			j++
		}
		// Split before page j, or after it when that is closer to the target.
		at := j
		if j < len(pages) && before+pages[j].Rows-target < target-before {
			at = j + 1
		}
		if at <= prev || at >= len(pages) {
			continue
		}
		splits = append(splits, pages[at].First)
		prev = at
	}
	return splits
}

// keyBounds returns the lowest and highest pages.by value, from plan_query
// or MIN/MAX over the query; nil when it is not an integer (or no rows).
func (r *Runner) keyBounds(ctx context.Context, f *config.Feed) (lo, hi *int64, err error) {
	q := f.PlanQuery
	if q == "" {
		eng := r.DB.Engine()
		col, err := r.keyColumn(ctx, f, feedQuery(f, eng))
		if err != nil {
			return nil, nil, err
		}
		q = db.MinMaxQuery(eng, feedQuery(f, eng), col)
	}
	cur, err := r.DB.Query(ctx, q)
	if err != nil {
		return nil, nil, fmt.Errorf("plan: key bounds: %w", err)
	}
	defer cur.Close()
	if len(cur.Columns()) != 2 {
		return nil, nil, fmt.Errorf("%s: plan_query returns %d columns; want 2 (lowest, highest pages.by)", f.Pos, len(cur.Columns()))
	}
	if cur.Next() {
		row := cur.Row()
		lo, hi = asInt(row[0]), asInt(row[1])
	}
	if err := cur.Err(); err != nil {
		return nil, nil, fmt.Errorf("plan: key bounds: %w", err)
	}
	return lo, hi, nil
}

// asInt returns v as an integer, nil if it is none.
func asInt(v transform.Value) *int64 {
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case uint64:
		if x > 1<<62 {
			return nil
		}
		n = int64(x)
	case transform.Decimal:
		i, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return nil
		}
		n = i
	case []byte:
		i, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return nil
		}
		n = i
	case string:
		i, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return nil
		}
		n = i
	default:
		return nil
	}
	return &n
}

// spanSplits splits [lo, hi] into n ranges of equal width.
func spanSplits(lo, hi *int64, n int) []json.RawMessage {
	if lo == nil || hi == nil || *hi <= *lo {
		return nil
	}
	width := float64(*hi-*lo+1) / float64(n)
	var splits []json.RawMessage
	prev := *lo
	for k := 1; k < n; k++ {
		s := *lo + int64(width*float64(k))
		if s <= prev || s > *hi {
			continue
		}
		splits = append(splits, json.RawMessage(strconv.FormatInt(s, 10)))
		prev = s
	}
	return splits
}

// keyColumn returns the name of the pages.by column exactly as query
// returns it (PostgreSQL matches a quoted name by case).
func (r *Runner) keyColumn(ctx context.Context, f *config.Feed, query string) (string, error) {
	cols, err := r.DB.Describe(ctx, query)
	if err != nil {
		return "", err
	}
	i := transform.ColumnIndex(cols, f.Pages.By)
	if i < 0 {
		return "", &config.Error{Pos: f.Pages.Pos, Msg: fmt.Sprintf("feed %q: pages.by %q names no column of the query", f.Name, f.Pages.By)}
	}
	return cols[i].Name, nil
}

// bindKey converts a range bound (a published key) to a query argument: nil
// for null, an int64 or the digits of a number, a string.
func bindKey(raw json.RawMessage) (any, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return nil, nil
	}
	switch t[0] {
	case '"':
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return nil, fmt.Errorf("range bound %s: %w", t, err)
		}
		return s, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if n, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return n, nil
		}
		return string(t), nil
	}
	return nil, fmt.Errorf("range bound %s: a sharded feed's pages.by must publish numbers or strings", t)
}

// Shard exports range index of plan p into pages and writes its result to
// the state store at <feed>/<run_id>/shard-<index>.json.
func (r *Runner) Shard(ctx context.Context, p *Plan, index int) (*ShardResult, error) {
	f, err := r.shardedFeed(p)
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= len(p.Shards) {
		return nil, fmt.Errorf("feed %q, run %s: no shard %d (the plan has %d)", f.Name, p.RunID, index, len(p.Shards))
	}
	s, err := r.exportRange(ctx, f, p.Shards[index])
	if err != nil {
		return nil, classify(fmt.Errorf("feed %q, run %s, shard %d: %w", f.Name, p.RunID, index, err))
	}
	if err := r.putState(ctx, shardKey(f.Name, p.RunID, index), s); err != nil {
		return nil, err
	}
	if err := r.step(f.Name, stepShard+strconv.Itoa(index)); err != nil {
		return nil, err
	}
	res := s.ShardResult
	return &res, nil
}

// rangeStream is a phase of a shard's reading: the pages stay open for the
// next phase (Close does nothing), and reading stops once the builder has
// reached its last boundary (Done).
type rangeStream struct{ b *paging.Builder }

func (s rangeStream) Rows() int64  { return s.b.Rows() }
func (s rangeStream) Bytes() int64 { return s.b.Bytes() }
func (s rangeStream) Close() error { return nil }
func (s rangeStream) Done() bool   { return s.b.Done() }

// exportRange reads range rg of feed f into pages: [lo, hi), then from hi
// on to the next key boundary when its pages are open.
func (r *Runner) exportRange(ctx context.Context, f *config.Feed, rg Range) (*shardState, error) {
	lo, err := bindKey(rg.Lo)
	if err != nil {
		return nil, err
	}
	hi, err := bindKey(rg.Hi)
	if err != nil {
		return nil, err
	}
	mapper, err := r.registry().New(f.Mapper, f.Spec())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Pos, err)
	}
	eng := r.DB.Engine()
	query := f.QueryFor(eng)
	if err := validateShards(ctx, r.DB, f); err != nil {
		return nil, err
	}
	col := f.Pages.By
	if !db.HasRangePlaceholders(eng, query) {
		if col, err = r.keyColumn(ctx, f, query); err != nil {
			return nil, err
		}
	}
	q, args := db.RangeQuery(eng, query, col, lo, hi)
	cur, err := r.DB.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer func() { cur.Close() }()
	env := transform.NewEnv(f.Location)
	schema, err := transform.Bind(mapper, cur.Columns(), env)
	if err != nil {
		return nil, err
	}
	schemaJSON, schemaSum, err := schemaBytes(f.Name, schema)
	if err != nil {
		return nil, err
	}
	field, err := PageKeyField(f, cur.Columns(), schema)
	if err != nil {
		return nil, err
	}
	contentType, contentEncoding := encode.ContentType(f.Format), encode.ContentEncoding(f.Compress)
	listedAt := r.now()
	w, err := paging.NewWriter(ctx, r.Store, f.Name,
		blob.Meta{ContentType: contentType, ContentEncoding: contentEncoding, CacheControl: cacheImmutable},
		f.Pages.Grace, pageUploads, listedAt)
	if err != nil {
		return nil, err
	}
	b, err := paging.NewBuilder(paging.Options{Rows: f.Pages.Rows, MaxBytes: f.Pages.MaxBytes, Format: f.Format,
		Compress: f.Compress, FromFirstBoundary: lo != nil}, paging.FieldKey(field), w.Add)
	if err != nil {
		return nil, err
	}
	preview := &site.Capture{}
	var out transform.Sink = b
	if lo == nil {
		out = previewSink{next: b, capture: preview}
	}
	fail := func(err error) (*shardState, error) {
		w.Wait() // the pages stored are named by nothing: a later sweep removes them
		return nil, err
	}
	if err := r.stream(ctx, f.Name, cur, mapper, rangeStream{b}, out); err != nil {
		return fail(err)
	}
	if err := cur.Close(); err != nil {
		return fail(fmt.Errorf("end query: %w", err))
	}
	eof := hi == nil
	if hi != nil && !b.Skipping() {
		// Read on from hi to the next key boundary, where the next shard's pages start.
		b.StopAtNextBoundary()
		q, args := db.RangeQuery(eng, query, col, hi, nil)
		if cur, err = r.DB.Query(ctx, q, args...); err != nil {
			return fail(err)
		}
		if err := r.stream(ctx, f.Name, cur, mapper, rangeStream{b}, out); err != nil {
			return fail(err)
		}
		if err := cur.Close(); err != nil {
			return fail(fmt.Errorf("end query: %w", err))
		}
		eof = !b.Done()
	}
	if err := b.Close(); err != nil {
		return fail(err)
	}
	if err := w.Wait(); err != nil {
		return nil, err
	}
	entries := w.Entries()
	if entries == nil {
		entries = []paging.Entry{}
	}
	r.logWarnings(f.Name, env)
	s := &shardState{ShardResult: ShardResult{Index: rg.Index, Pages: len(entries), Rows: b.Rows(),
		Start: json.RawMessage("null"), End: json.RawMessage("null"), After: json.RawMessage("null"), EOF: eof},
		Entries: entries, Bytes: b.Bytes(), Warnings: env.Warnings, Schema: schemaJSON, SchemaSHA256: schemaSum,
		ListedAt: listedAt}
	if len(entries) > 0 {
		s.Start, s.End = entries[0].First, entries[len(entries)-1].Last
	}
	if a := b.After(); a != nil {
		s.After = a
	}
	if lo == nil {
		s.Preview = preview.Preview("")
	}
	keys, err := w.Refresh(ctx)
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		s.Refreshed, s.RefreshedAt = keys, r.now()
	}
	return s, nil
}

// Commit publishes the version of plan p from its shards' page lists under
// every rule of CONTRACT §5, and updates the catalog. A commit retried
// after a lost answer finds its version published and succeeds again.
func (r *Runner) Commit(ctx context.Context, p *Plan) (Result, error) {
	res, err := r.commit(ctx, p)
	if err == nil {
		if cerr := r.writeCatalog(ctx); cerr != nil {
			r.log().Error("catalog", "error", cerr.Error())
			if res.Status == StatusSuccess {
				res.Message = "published, but index.json was not updated: " + cerr.Error()
			}
		}
	}
	return res, err
}

// commit is Commit without the catalog.
func (r *Runner) commit(ctx context.Context, p *Plan) (res Result, err error) {
	start := time.Now()
	res.Feed = p.Feed
	defer func() {
		res.DurationMS = time.Since(start).Milliseconds()
		if err != nil {
			err = classify(err)
			res.Status, res.Message = StatusError, err.Error()
			r.log().Error("export failed", "feed", p.Feed, "run_id", p.RunID, "status", res.Status, "error", res.Message)
			return
		}
		r.log().Info("export", "feed", p.Feed, "run_id", p.RunID, "status", res.Status, "version", res.Version,
			"rows", res.Rows, "bytes", res.Bytes, "duration_ms", res.DurationMS, "warnings", res.Warnings)
	}()
	f, err := r.shardedFeed(p)
	if err != nil {
		return res, err
	}
	st, err := r.readState(ctx, f.Name)
	if err != nil {
		return res, err
	}
	if st.cur != nil {
		for _, v := range st.cur.Versions {
			if v.Version == p.Version { // this commit's answer was lost: it is published
				res.Status, res.Version, res.Rows, res.Bytes, res.SHA256 = StatusSuccess, v.Version, v.Rows, v.Bytes, v.SHA256
				return res, r.repair(ctx, f.Name, nil)
			}
		}
	}
	if p.Source == "skipped" || staleSchedule(st.cur, p.ScheduledTime) {
		res.Status, res.Version = StatusSkipped, st.cur.Version
		return res, r.repair(ctx, f.Name, nil)
	}
	shards, err := r.loadShards(ctx, p)
	if err != nil {
		return res, err
	}
	if bad := seamError(shards); bad != nil {
		// Neighbours read different snapshots and a row moved the seam:
		// export the pair again, once.
		r.log().Warn("shards do not meet: exporting the pair again", "feed", f.Name, "run_id", p.RunID, "error", bad.err.Error())
		for _, i := range []int{bad.a, bad.b} {
			if _, err := r.Shard(ctx, p, i); err != nil {
				return res, err
			}
		}
		if shards, err = r.loadShards(ctx, p); err != nil {
			return res, err
		}
		if bad := seamError(shards); bad != nil {
			return res, fmt.Errorf("feed %q, run %s: %w (again after exporting shards %d and %d anew): nothing published",
				f.Name, p.RunID, bad.err, bad.a, bad.b)
		}
	}
	return r.publishShards(ctx, f, p, st, shards)
}

// loadShards reads every shard's record; a missing one failed or never ran.
func (r *Runner) loadShards(ctx context.Context, p *Plan) ([]*shardState, error) {
	shards := make([]*shardState, len(p.Shards))
	for i := range p.Shards {
		var s shardState
		if err := r.getState(ctx, shardKey(p.Feed, p.RunID, i), &s); err != nil {
			return nil, fmt.Errorf("feed %q, run %s: shard %d has no result (it failed or did not run): nothing published: %w",
				p.Feed, p.RunID, i, err)
		}
		shards[i] = &s
	}
	return shards, nil
}

// seam is a pair of neighbouring shards that do not meet.
type seam struct {
	a, b int
	err  error
}

// seamError checks that the shards' pages join into one sequence: each
// shard that read through a boundary (After) starts where the pages before
// it end, the last pages end at the end of the rows, and the keys increase.
func seamError(shards []*shardState) *seam {
	last := -1 // the shard whose pages (or reading to the end) end the sequence so far
	var end json.RawMessage
	for i, s := range shards {
		if i == 0 {
			last, end = 0, s.End
			continue
		}
		if isNull(s.After) {
			if s.Pages > 0 {
				return &seam{a: last, b: i, err: fmt.Errorf("shard %d has pages but no start boundary", i)}
			}
			continue
		}
		if !bytes.Equal(s.After, end) {
			return &seam{a: last, b: i, err: fmt.Errorf("shard %d ends at key %s, shard %d starts after key %s", last, end, i, s.After)}
		}
		if s.Pages > 0 && !increasing(end, s.Start) {
			return &seam{a: last, b: i, err: fmt.Errorf("keys do not increase from shard %d (%s) to shard %d (%s)", last, end, i, s.Start)}
		}
		last = i
		if s.Pages > 0 {
			end = s.End
		}
	}
	if len(shards) > 0 && !shards[last].EOF {
		// The sequence stops at a boundary no later shard starts from.
		b := min(last+1, len(shards)-1)
		return &seam{a: last, b: b, err: fmt.Errorf("shard %d ends at key %s and no later shard continues from there", last, end)}
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// increasing reports whether key b follows a: for numbers, numerically;
// other keys in the database's own order, which only their inequality shows.
func increasing(a, b json.RawMessage) bool {
	if isNull(a) || isNull(b) {
		return true
	}
	x, errA := strconv.ParseFloat(string(a), 64)
	y, errB := strconv.ParseFloat(string(b), 64)
	if errA == nil && errB == nil {
		return x < y
	}
	return !bytes.Equal(a, b)
}

// publishShards writes the page index of the shards' pages as version
// p.Version and publishes it (publish: unchanged, skipped, conditional
// manifest, retention, page refresh confirmation).
func (r *Runner) publishShards(ctx context.Context, f *config.Feed, p *Plan, st state, shards []*shardState) (res Result, err error) {
	entries := []paging.Entry{}
	var rows, size int64
	var listedAt, refreshedAt time.Time
	var refreshed []string
	for i, s := range shards {
		if s.SchemaSHA256 != shards[0].SchemaSHA256 {
			return res, fmt.Errorf("feed %q, run %s: shard %d read another schema than shard 0 (the columns changed during the run): nothing published", f.Name, p.RunID, i)
		}
		entries = append(entries, s.Entries...)
		rows += s.Rows
		size += s.Bytes
		res.Warnings += s.Warnings
		if listedAt.IsZero() || s.ListedAt.Before(listedAt) {
			listedAt = s.ListedAt
		}
		if s.RefreshedAt.After(refreshedAt) {
			refreshedAt = s.RefreshedAt
		}
		refreshed = append(refreshed, s.Refreshed...)
	}
	for i := 1; i < len(entries); i++ {
		if !increasing(entries[i-1].Last, entries[i].First) {
			return res, fmt.Errorf("feed %q, run %s: page %d ends at key %s, page %d starts at %s: the keys do not increase: nothing published",
				f.Name, p.RunID, i-1, entries[i-1].Last, i, entries[i].First)
		}
	}
	at, err := versionTime(p.Version)
	if err != nil {
		return res, err
	}
	contentType, contentEncoding := encode.ContentType(f.Format), encode.ContentEncoding(f.Compress)
	idx := paging.Index{Feed: f.Name, Version: p.Version, GeneratedAt: r.now().UTC().Truncate(time.Second),
		Rows: rows, Bytes: size, SHA256: paging.Digest(entries), ContentType: contentType,
		ContentEncoding: encodingName(contentEncoding), Pages: entries}
	res.Rows, res.Bytes, res.SHA256 = idx.Rows, idx.Bytes, idx.SHA256
	body, err := marshal(idx)
	if err != nil {
		return res, err
	}
	vkey := versionKey(f.Name, p.Version)
	if _, err := r.Store.Head(ctx, vkey); err == nil {
		// An earlier attempt of this commit (same run id) died before its
		// manifest write: its version object is replaced.
		if err := r.Store.Delete(ctx, vkey); err != nil {
			return res, fmt.Errorf("remove unpublished version %s: %w", vkey, err)
		}
	} else if !errors.Is(err, blob.ErrNotFound) {
		return res, fmt.Errorf("read %s: %w", vkey, err)
	}
	up, err := r.Store.NewUpload(ctx, vkey, blob.WriteOptions{
		Meta: versionMeta(p.Version, "application/json", ""), IfNoneMatch: true})
	if err != nil {
		return res, fmt.Errorf("start upload: %w", err)
	}
	defer abortUnlessKilled(ctx, up, &err)
	if _, err := up.Write(body); err != nil {
		return res, fmt.Errorf("write page index: %w", err)
	}
	d := document{feed: f, version: p.Version, at: at, manual: p.ScheduledTime.IsZero(),
		schema: shards[0].Schema, schemaSHA256: shards[0].SchemaSHA256,
		rows: idx.Rows, bytes: idx.Bytes, sha256: idx.SHA256, contentType: contentType, contentEncoding: contentEncoding,
		paged: true, pages: len(entries)}
	d.beforeManifest = func(ctx context.Context) error {
		return r.confirmShardPages(ctx, f, listedAt, refreshed, refreshedAt)
	}
	preview := &site.Capture{}
	if shards[0].Preview != nil {
		preview = site.CaptureOf(shards[0].Preview)
	}
	return r.finish(ctx, up, st, d, preview, res, p.Force)
}

// confirmShardPages is holdPages for pages the shards stored: at least w
// after the last refresh, the refreshed pages must still exist, and the
// earliest listing must be less than grace/2 old.
func (r *Runner) confirmShardPages(ctx context.Context, f *config.Feed, listedAt time.Time, refreshed []string, refreshedAt time.Time) error {
	grace := f.Pages.Grace
	if len(refreshed) > 0 {
		if wait := refreshedAt.Add(paging.Window(grace)).Sub(r.now()); wait > 0 {
			if err := r.wait(ctx, wait); err != nil {
				return err
			}
		}
		if err := paging.Confirm(ctx, r.Store, refreshed); err != nil {
			return err
		}
	}
	if took := r.now().Sub(listedAt); took >= grace/2 {
		return fmt.Errorf("%s: %s passed since the first shard listed its pages, more than half of pages.grace (%s): a sweep may have removed pages it names; raise pages.grace",
			f.Pos, took.Round(time.Second), grace)
	}
	return nil
}

// runSharded is Run for a sharded feed: Plan, the shards Workers at a time
// (each on a connection of its own), then Commit's publish. A shard that
// fails cancels the others and means no commit: the previous version stays
// served.
func (r *Runner) runSharded(ctx context.Context, f *config.Feed, scheduled time.Time, force bool) Result {
	start := time.Now()
	fail := func(err error) Result {
		res := Result{Feed: f.Name, Status: StatusError, Message: classify(err).Error(), DurationMS: time.Since(start).Milliseconds()}
		r.log().Error("export failed", "feed", f.Name, "status", res.Status, "duration_ms", res.DurationMS, "error", res.Message)
		return res
	}
	p, err := r.Plan(ctx, f.Name, scheduled, PlanOptions{Force: force})
	if err != nil {
		return fail(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	progress := r.shardProgress(len(p.Shards))
	sem := make(chan struct{}, max(1, r.Workers))
	errs := make([]error, len(p.Shards))
	var wg sync.WaitGroup
	for i := range p.Shards {
		sem <- struct{}{}
		if sctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			sr := *r
			sr.Progress = progress(i)
			if _, err := sr.Shard(sctx, p, i); err != nil {
				errs[i] = err
				cancel() // the run fails: stop the other shards
			}
		}()
	}
	wg.Wait()
	for _, err := range errs { // the first failure, not the cancellations it caused
		if err != nil && !errors.Is(err, context.Canceled) {
			return fail(err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	res, _ := r.commit(ctx, p) // it logs its outcome
	res.DurationMS = time.Since(start).Milliseconds()
	return res
}

// shardProgress returns, per shard, a Progress callback that reports the
// feed's totals over its shards to r.Progress (nil when there is none).
func (r *Runner) shardProgress(shards int) func(i int) func(feed string, rows, bytes int64) {
	if r.Progress == nil {
		return func(int) func(string, int64, int64) { return nil }
	}
	var mu sync.Mutex
	each := make([][2]int64, shards)
	var rows, size int64
	return func(i int) func(string, int64, int64) {
		return func(feed string, n, b int64) {
			mu.Lock()
			defer mu.Unlock()
			rows, size = rows+n-each[i][0], size+b-each[i][1]
			each[i] = [2]int64{n, b}
			r.Progress(feed, rows, size)
		}
	}
}
