package exporters

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/transform"
)

// Cache-Control values of CONTRACT §5.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheShort     = "public, max-age=60"
)

// document is an uploaded (staged, not yet visible) feed document.
type document struct {
	feed            *config.Feed
	at              time.Time
	rows, bytes     int64
	sha256          string
	contentType     string
	contentEncoding string
	schema          transform.Schema
}

func (d *document) meta(cache string) blob.Meta {
	return blob.Meta{
		ContentType: d.contentType, ContentEncoding: d.contentEncoding, CacheControl: cache,
		User: map[string]string{"sha256": d.sha256, "rows": strconv.FormatInt(d.rows, 10)},
	}
}

// maxManifestAttempts bounds the re-read/retry loop of the conditional manifest write.
const maxManifestAttempts = 5

// publish makes a staged document the feed's newest version, in the order
// version → latest.json → schema.json → manifest.json (CONTRACT §5), or
// reports it unchanged or skipped. It returns the status and version.
func (r *Runner) publish(ctx context.Context, up blob.Upload, d document) (string, string, error) {
	feed := d.feed.Name
	cur, etag, err := readManifest(ctx, r.Store, feed)
	if err != nil {
		return "", "", err
	}
	version := VersionName(d.at, d.sha256)
	if status, ok := compare(cur, d, version); ok {
		return status, currentVersion(cur, status, version), nil
	}

	// 1. The immutable version. A duplicate delivery finds it already there.
	vkey := versionKey(feed, version)
	_, err = up.Commit(ctx, vkey, blob.WriteOptions{Meta: d.meta(cacheImmutable), IfNoneMatch: true})
	createdVersion := err == nil
	if err != nil && !errors.Is(err, blob.ErrPrecondition) {
		return "", "", fmt.Errorf("write version %s: %w", vkey, err)
	}
	// dropVersion removes the version this run created when it does not end
	// up named by the manifest.
	dropVersion := func(winner *Manifest) {
		if createdVersion && !names(winner, version) {
			if err := r.Store.Delete(context.WithoutCancel(ctx), vkey); err != nil {
				r.log().Error("remove unpublished version", "feed", feed, "version", version, "error", err.Error())
			}
		}
	}

	// 2. latest.json, a server-side copy of the version.
	if _, err := r.Store.Copy(ctx, vkey, latestKey(feed), blob.WriteOptions{Meta: d.meta(cacheShort)}); err != nil {
		dropVersion(cur)
		return "", "", r.restoreLatest(ctx, feed, fmt.Errorf("write latest.json: %w", err))
	}

	// 3. schema.json, when it changed.
	schema, err := marshal(schemaDocument(feed, d.schema))
	if err == nil {
		err = r.putIfChanged(ctx, schemaKey(feed), schema, "application/schema+json")
	}
	if err != nil {
		dropVersion(cur)
		return "", "", r.restoreLatest(ctx, feed, fmt.Errorf("write schema.json: %w", err))
	}

	// 4. manifest.json, conditionally on the ETag read: a newer run that got
	// there first wins, and this run then puts latest.json back to its version.
	info := VersionInfo{Version: version, GeneratedAt: r.now().UTC().Truncate(time.Second), Rows: d.rows, Bytes: d.bytes,
		SHA256: d.sha256, ContentEncoding: encodingName(d.contentEncoding), Key: vkey}
	var written *Manifest
	for attempt := 1; ; attempt++ {
		next := nextManifest(cur, d, info)
		opt := blob.WriteOptions{Meta: blob.Meta{ContentType: "application/json", CacheControl: cacheShort}}
		if cur == nil {
			opt.IfNoneMatch = true
		} else {
			opt.IfMatch = etag
		}
		body, err := marshal(next)
		if err != nil {
			dropVersion(cur)
			return "", "", r.restoreLatest(ctx, feed, err)
		}
		_, err = r.Store.Put(ctx, manifestKey(feed), bytes.NewReader(body), opt)
		if err == nil {
			written = next
			break
		}
		if !errors.Is(err, blob.ErrPrecondition) || attempt == maxManifestAttempts {
			dropVersion(cur)
			return "", "", r.restoreLatest(ctx, feed, fmt.Errorf("write manifest: %w", err))
		}
		// Someone else published meanwhile: re-read and decide again.
		if cur, etag, err = readManifest(ctx, r.Store, feed); err != nil {
			return "", "", err
		}
		// A manifest naming this very version is not proof that this run wrote
		// it: a duplicate delivery of the same event finds the version already
		// there and may win the manifest write. compare reports it unchanged,
		// so the duplicate publishes at most once (TestConcurrentRuns).
		if status, ok := compare(cur, d, version); ok {
			dropVersion(cur)
			if err := r.restoreLatest(ctx, feed, nil); err != nil {
				return "", "", err
			}
			return status, currentVersion(cur, status, version), nil
		}
	}

	// 5. Retention, only after the new manifest is written.
	r.sweepVersions(ctx, written, d.at)
	return StatusSuccess, version, nil
}

// sweepVersions deletes the version objects of m's feed that m does not name
// and whose scheduled time is before at: those retention dropped, and any left
// by an earlier run that died between writing its version and the manifest.
// Newer unnamed versions may belong to a run still publishing and are left.
func (r *Runner) sweepVersions(ctx context.Context, m *Manifest, at time.Time) {
	objects, err := r.Store.List(ctx, m.Feed+"/versions/")
	if err != nil {
		r.log().Warn("retention: list versions", "feed", m.Feed, "error", err.Error())
		return
	}
	named := map[string]bool{}
	for _, v := range m.Versions {
		named[v.Key] = true
	}
	for _, o := range objects {
		version := strings.TrimSuffix(strings.TrimPrefix(o.Key, m.Feed+"/versions/"), ".json")
		t, err := versionTime(version)
		if named[o.Key] || err != nil || !t.Before(at) {
			continue
		}
		if err := r.Store.Delete(ctx, o.Key); err != nil {
			r.log().Warn("retention", "feed", m.Feed, "version", version, "error", err.Error())
		}
	}
}

// compare decides whether the document must not be published over cur:
// unchanged (same sha256 and encoding) or skipped (cur is as new or newer).
func compare(cur *Manifest, d document, version string) (string, bool) {
	if cur == nil {
		return "", false
	}
	if cur.SHA256 == d.sha256 && cur.ContentEncoding == encodingName(d.contentEncoding) {
		return StatusUnchanged, true
	}
	curAt, err := versionTime(cur.Version)
	if err == nil && !d.at.After(curAt) {
		return StatusSkipped, true
	}
	return "", false
}

// currentVersion is the version a non-publishing status reports: the one served.
func currentVersion(cur *Manifest, status, own string) string {
	if cur != nil && status != StatusSuccess {
		return cur.Version
	}
	return own
}

func names(m *Manifest, version string) bool {
	if m == nil {
		return false
	}
	for _, v := range m.Versions {
		if v.Version == version {
			return true
		}
	}
	return false
}

// nextManifest returns the manifest naming info as the newest version, with
// at most keep_versions versions.
func nextManifest(cur *Manifest, d document, info VersionInfo) *Manifest {
	versions := []VersionInfo{info}
	if cur != nil {
		for _, v := range cur.Versions {
			if v.Version != info.Version {
				versions = append(versions, v)
			}
		}
	}
	if keep := d.feed.KeepVersions; len(versions) > keep {
		versions = versions[:keep]
	}
	feed := d.feed.Name
	return &Manifest{
		Feed: feed, Version: info.Version, GeneratedAt: info.GeneratedAt, Rows: info.Rows, Bytes: info.Bytes,
		SHA256: info.SHA256, ContentType: d.contentType, ContentEncoding: info.ContentEncoding,
		Schema: schemaKey(feed), Latest: latestKey(feed), Versions: versions,
	}
}

// restoreLatest points latest.json back at the version the manifest names
// (after this run copied its own and then lost or failed), or removes it when
// nothing was published before. It returns cause, joined with its own failure.
func (r *Runner) restoreLatest(ctx context.Context, feed string, cause error) error {
	ctx = context.WithoutCancel(ctx)
	m, _, err := readManifest(ctx, r.Store, feed)
	if err != nil {
		return errors.Join(cause, fmt.Errorf("restore latest.json: %w", err))
	}
	if m == nil {
		if err := r.Store.Delete(ctx, latestKey(feed)); err != nil {
			return errors.Join(cause, fmt.Errorf("remove latest.json: %w", err))
		}
		return cause
	}
	src := versionKey(m.Feed, m.Version)
	a, err := r.Store.Head(ctx, src)
	if err == nil {
		opt := blob.WriteOptions{Meta: a.Meta}
		opt.CacheControl = cacheShort
		_, err = r.Store.Copy(ctx, src, latestKey(feed), opt)
	}
	if err != nil {
		return errors.Join(cause, fmt.Errorf("restore latest.json: %w", err))
	}
	return cause
}

// putIfChanged writes a small JSON object unless it already has these bytes.
func (r *Runner) putIfChanged(ctx context.Context, key string, b []byte, contentType string) error {
	old, _, err := blob.ReadAll(ctx, r.Store, key)
	if err == nil && bytes.Equal(old, b) {
		return nil
	}
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		return err
	}
	_, err = r.Store.Put(ctx, key, bytes.NewReader(b), blob.WriteOptions{Meta: blob.Meta{ContentType: contentType, CacheControl: cacheShort}})
	return err
}

// schemaDocument wraps a mapper's document schema as a standalone JSON Schema.
func schemaDocument(feed string, s transform.Schema) transform.Schema {
	out := transform.Schema{
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"title":   feed,
	}
	for k, v := range s {
		out[k] = v
	}
	return out
}

// marshal encodes v (maps sorted by key, so the bytes are stable) with a trailing newline.
func marshal(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return append(b, '\n'), nil
}
