package exporters

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/sqlfeed/sqlfeed/exporters/paging"
	"github.com/sqlfeed/sqlfeed/exporters/site"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/config"
)

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
	defer func() {
		res.Feed = p.Feed // also over the Result publishShards returns
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
	d := document{feed: f, version: p.Version, at: at, manual: p.ScheduledTime.IsZero(),
		schema: shards[0].Schema, schemaSHA256: shards[0].SchemaSHA256}
	idx := r.pageIndex(&d, entries, rows, size)
	res.Rows, res.Bytes, res.SHA256 = idx.Rows, idx.Bytes, idx.SHA256
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
	up, err := r.uploadIndex(ctx, idx)
	if err != nil {
		return res, err
	}
	defer abortUnlessKilled(ctx, up, &err)
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
