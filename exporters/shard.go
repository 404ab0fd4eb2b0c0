package exporters

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
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
		next, err := r.DB.Query(ctx, q, args...)
		if err != nil {
			return fail(err)
		}
		cur = next
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
