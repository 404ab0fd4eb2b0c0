package exporters

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	json "github.com/goccy/go-json"

	"github.com/sqlfeed/sqlfeed/exporters/paging"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/transform"
)

// Plan starts a sharded run of feed: a run id, its version name, and at most
// shards key ranges of similar row counts (planSplits), written to the state
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
