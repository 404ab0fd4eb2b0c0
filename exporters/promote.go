package exporters

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// ErrUnknownVersion is returned (wrapped) by Promote for a version the
// manifest does not keep, or whose object is gone.
var ErrUnknownVersion = errors.New("not a kept version")

// Promote makes a kept older version of feed current again (rollback after
// bad data, `sqlfeed promote`): a new manifest names it as the current
// version, written conditionally on the manifest read (If-Match), then
// latest.json becomes a conditional copy of it and index.json follows, as
// after a run. The version moves to the head of the kept versions; its
// object is not rewritten. A version the manifest does not keep, or whose
// object is missing, fails with ErrUnknownVersion and changes nothing. The
// error is for what prevents trying at all; the Result reports the outcome.
func (r *Runner) Promote(ctx context.Context, feed, version string) (Result, error) {
	f := r.Config.Feed(feed)
	if f == nil {
		return Result{}, &UnknownFeedError{Name: feed}
	}
	start := time.Now()
	res := Result{Feed: feed, Version: version}
	failed := func(err error) (Result, error) {
		res.Status, res.Message, res.DurationMS = StatusError, err.Error(), time.Since(start).Milliseconds()
		r.log().Error("promote", "feed", feed, "version", version, "error", err.Error())
		return res, nil
	}
	cur, etag, err := readManifest(ctx, r.Store, feed)
	if err != nil {
		return failed(err)
	}
	if cur == nil {
		return failed(fmt.Errorf("promote %s: the feed has never been published", version))
	}
	var v *VersionInfo
	kept := make([]string, 0, len(cur.Versions))
	for i := range cur.Versions {
		kept = append(kept, cur.Versions[i].Version)
		if cur.Versions[i].Version == version {
			v = &cur.Versions[i]
		}
	}
	if v == nil {
		return failed(fmt.Errorf("promote %s: %w of feed %s (kept, newest first: %s)", version, ErrUnknownVersion, feed, strings.Join(kept, ", ")))
	}
	if _, err := r.Store.Head(ctx, v.Key); err != nil {
		if errors.Is(err, blob.ErrNotFound) {
			err = fmt.Errorf("%w: its object %s is missing", ErrUnknownVersion, v.Key)
		}
		return failed(fmt.Errorf("promote %s: %w", version, err))
	}
	res.Rows, res.Bytes, res.SHA256 = v.Rows, v.Bytes, v.SHA256
	if cur.Version != version {
		versions := []VersionInfo{*v}
		for _, o := range cur.Versions {
			if o.Version != version {
				versions = append(versions, o)
			}
		}
		next := *cur
		next.Version, next.GeneratedAt, next.CheckedAt = v.Version, v.GeneratedAt, r.now().UTC().Truncate(time.Second)
		next.Rows, next.Bytes, next.SHA256 = v.Rows, v.Bytes, v.SHA256
		next.ContentType, next.ContentEncoding, next.SchemaSHA256 = v.ContentType, v.ContentEncoding, v.SchemaSHA256
		next.Versions = versions
		if err := r.putManifest(ctx, feed, &next, cur, etag); err != nil {
			if errors.Is(err, blob.ErrPrecondition) {
				err = fmt.Errorf("the manifest changed while promoting (a run published?); nothing was changed, try again: %w", err)
			}
			return failed(fmt.Errorf("promote %s: %w", version, err))
		}
		res.Message = "promoted; was " + cur.Version
		if v.SchemaSHA256 != "" && v.SchemaSHA256 != cur.SchemaSHA256 {
			res.Message += "; schema.json still describes the newer version's documents"
		}
	} else {
		res.Message = "already current"
	}
	if err := r.repair(ctx, feed, nil); err != nil {
		return failed(fmt.Errorf("promote %s: manifest written, but: %w", version, err))
	}
	if err := r.writeFeedPage(ctx, f, nil); err != nil {
		res.Message += "; " + feedPageKey(feed) + " was not updated: " + err.Error()
	}
	if err := r.writeCatalog(ctx); err != nil {
		res.Message += "; index.json was not updated: " + err.Error()
	}
	res.Status, res.DurationMS = StatusSuccess, time.Since(start).Milliseconds()
	r.log().Info("promote", "feed", feed, "version", version, "message", res.Message)
	return res, nil
}
