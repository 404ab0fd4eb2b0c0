package exporters

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// maxAttempts bounds the re-read/retry loops of the conditional writes.
const maxAttempts = 5

// Steps of a publish, in order, for Runner.hook (tests stop or interleave runs there).
const (
	stepShard    = "shard-"   // sharded feeds: shard <n>'s result is in the state store
	stepEncoded  = "encoded"  // the document is encoded, nothing committed yet
	stepPages    = "pages"    // paged feeds: every page is stored, the index not yet
	stepRefresh  = "refresh"  // paged feeds: stored pages refreshed, not yet confirmed
	stepVersion  = "version"  // versions/<version>.json is committed
	stepManifest = "manifest" // manifest.json names the version
	stepLatest   = "latest"   // latest.json agrees with the manifest
	stepSchema   = "schema"   // schema.json is written
	stepCatalog  = "catalog"  // index.json's new content is built, not yet written
	stepSwept    = "swept"    // a page sweep has listed the pages, deleted none yet
)

// killed wraps an error a test hook returned: the run stops right there, as
// if the process died, with no cleanup at all.
type killed struct{ error }

// state is what a run knows of the published feed when it starts.
type state struct {
	cur  *Manifest // nil: never published
	etag string    // the manifest's ETag
	date time.Time // the store's clock when it answered, zero if it has none
}

// readState reads the feed's manifest.
func (r *Runner) readState(ctx context.Context, feed string) (state, error) {
	m, a, err := readManifestAttrs(ctx, r.Store, feed)
	return state{cur: m, etag: a.ETag, date: a.Date}, err
}

// runTime returns the time that names a run's version: the scheduled time, or
// for a manual run the store's clock (else ours), never before the published
// version's time, so latest never goes backwards (CONTRACT §5).
func (r *Runner) runTime(st state, scheduled time.Time) time.Time {
	if !scheduled.IsZero() {
		return scheduled.UTC().Truncate(time.Second)
	}
	at := st.date
	if at.IsZero() {
		at = r.now()
	}
	at = at.UTC().Truncate(time.Second)
	if st.cur != nil {
		if curAt, err := versionTime(st.cur.Version); err == nil && curAt.After(at) {
			at = curAt
		}
	}
	return at
}

// staleSchedule reports whether a scheduled run is not newer than the
// published version (a duplicate delivery or a late retry): it is skipped.
func staleSchedule(cur *Manifest, scheduled time.Time) bool {
	if cur == nil || scheduled.IsZero() {
		return false
	}
	curAt, err := versionTime(cur.Version)
	return err == nil && !scheduled.After(curAt)
}

// document is an encoded feed document, streamed to its version key but not
// yet committed there.
type document struct {
	feed            *config.Feed
	version         string
	at              time.Time
	manual          bool
	rows, bytes     int64
	sha256          string
	contentType     string
	contentEncoding string
	schema          []byte // schema.json's bytes
	schemaSHA256    string
	// Paged feeds: the object is the page index of pages pages, and
	// beforeManifest runs after it is committed, just before the manifest write.
	paged          bool
	pages          int
	beforeManifest func(context.Context) error
}

// versionMeta is the metadata a version object is created with: the
// multipart upload fixes it before the digest is known, so the sha256 and row
// count are in the manifest and on latest.json (see README).
func versionMeta(version, contentType, contentEncoding string) blob.Meta {
	return blob.Meta{
		ContentType: contentType, ContentEncoding: contentEncoding, CacheControl: cacheImmutable,
		User: map[string]string{"version": version},
	}
}

// latestMeta is latest.json's metadata for version v.
func latestMeta(v VersionInfo) blob.Meta {
	ct, ce := v.ContentType, v.ContentEncoding
	if ce == "identity" {
		ce = ""
	}
	if v.Paged { // the page index: content_type/encoding are its pages'
		ct, ce = "application/json", ""
	}
	return blob.Meta{
		ContentType: ct, ContentEncoding: ce, CacheControl: cacheShort,
		User: map[string]string{"sha256": v.SHA256, "rows": strconv.FormatInt(v.Rows, 10), "version": v.Version},
	}
}

func (d *document) info(generated time.Time) VersionInfo {
	return VersionInfo{Version: d.version, GeneratedAt: generated, Rows: d.rows, Bytes: d.bytes, SHA256: d.sha256,
		ContentType: d.contentType, ContentEncoding: encodingName(d.contentEncoding), SchemaSHA256: d.schemaSHA256,
		Key: versionKey(d.feed.Name, d.version), Paged: d.paged, Pages: d.pages}
}

// same reports whether the published version has this content: same sha256,
// encoding and schema ("unchanged", CONTRACT §5).
func (d *document) same(cur *Manifest) bool {
	return cur != nil && cur.SHA256 == d.sha256 && cur.ContentEncoding == encodingName(d.contentEncoding) &&
		cur.SchemaSHA256 == d.schemaSHA256
}

// loses reports whether the document must not replace cur: a scheduled run
// not newer than cur, or any run older than cur.
func (d *document) loses(cur *Manifest) bool {
	if cur == nil {
		return false
	}
	curAt, err := versionTime(cur.Version)
	if err != nil {
		return false
	}
	return d.at.Before(curAt) || (!d.manual && !d.at.After(curAt))
}

// publish decides what the encoded document up becomes, in the order of
// CONTRACT §5: version object → manifest.json (conditional: the commit point)
// → latest.json (conditional copy, re-checked against the manifest) →
// schema.json. It returns the status and the version served.
func (r *Runner) publish(ctx context.Context, up blob.Upload, st state, d document) (string, string, error) {
	feed := d.feed.Name
	if d.same(st.cur) {
		up.Abort(context.WithoutCancel(ctx)) // never visible
		return r.confirm(ctx, st, d)
	}
	if d.loses(st.cur) {
		up.Abort(context.WithoutCancel(ctx))
		return StatusSkipped, st.cur.Version, r.repair(ctx, feed, nil)
	}

	// 1. The immutable version, streamed to its own key.
	vkey := versionKey(feed, d.version)
	if _, err := up.Commit(ctx); err != nil {
		return "", "", fmt.Errorf("write version %s: %w", vkey, err)
	}
	if err := r.step(feed, stepVersion); err != nil {
		return "", "", err
	}
	// drop removes the version object when the manifest ends up not naming it.
	drop := func() {
		if err := r.Store.Delete(context.WithoutCancel(ctx), vkey); err != nil {
			r.log().Error("remove unpublished version", "feed", feed, "version", d.version, "error", err.Error())
		}
	}
	if d.beforeManifest != nil {
		if err := d.beforeManifest(ctx); err != nil {
			if !errors.As(err, new(killed)) {
				drop()
			}
			return "", "", err
		}
	}

	// 2. manifest.json, conditionally on the ETag read.
	now := r.now().UTC().Truncate(time.Second)
	cur, etag := st.cur, st.etag
	var written *Manifest
	for attempt := 1; ; attempt++ {
		next := nextManifest(cur, d.feed, d.info(now))
		err := r.putManifest(ctx, feed, next, cur, etag)
		if err == nil {
			written = next
			break
		}
		if !errors.Is(err, blob.ErrPrecondition) || attempt == maxAttempts {
			drop()
			return "", "", errors.Join(fmt.Errorf("write manifest: %w", err), r.repair(ctx, feed, nil))
		}
		// Another run published meanwhile: decide again against it.
		if cur, etag, err = readManifest(ctx, r.Store, feed); err != nil {
			drop()
			return "", "", err
		}
		if d.same(cur) || d.loses(cur) {
			drop()
			status := StatusSkipped
			if d.same(cur) {
				status = StatusUnchanged
			}
			return status, cur.Version, r.repair(ctx, feed, nil)
		}
	}
	if err := r.step(feed, stepManifest); err != nil {
		return "", "", err
	}

	// 3. latest.json and 4. schema.json follow the manifest; a failure now
	// leaves a published version that the next run completes.
	if err := r.repair(ctx, feed, &d); err != nil {
		return StatusSuccess, d.version, fmt.Errorf("published %s, but: %w", d.version, err)
	}

	// 5. Retention, only after the new manifest is written.
	r.sweepVersions(ctx, written, d.at)
	if d.paged {
		if err := r.sweepPages(ctx, d.feed); err != nil {
			if errors.As(err, new(killed)) {
				return "", "", err
			}
			r.log().Warn("retention: pages", "feed", feed, "error", err.Error())
		}
	}
	return StatusSuccess, d.version, nil
}

// confirm records that the published content is still current: only the
// manifest's checked_at advances (a conditional write), and what a killed run
// left half-done is repaired.
func (r *Runner) confirm(ctx context.Context, st state, d document) (string, string, error) {
	feed := d.feed.Name
	cur, etag := st.cur, st.etag
	for attempt := 1; ; attempt++ {
		next := *cur
		next.CheckedAt = r.now().UTC().Truncate(time.Second)
		err := r.putManifest(ctx, feed, &next, cur, etag)
		if err == nil {
			break
		}
		if !errors.Is(err, blob.ErrPrecondition) || attempt == maxAttempts {
			return "", "", fmt.Errorf("confirm manifest: %w", err)
		}
		if cur, etag, err = readManifest(ctx, r.Store, feed); err != nil {
			return "", "", err
		}
		if cur == nil || !d.same(cur) {
			// Someone published other content meanwhile: nothing to confirm.
			return StatusSkipped, cur.versionOrEmpty(), r.repair(ctx, feed, nil)
		}
	}
	return StatusUnchanged, cur.Version, r.repair(ctx, feed, &d)
}

func (m *Manifest) versionOrEmpty() string {
	if m == nil {
		return ""
	}
	return m.Version
}

// putManifest writes m over the manifest cur read with ETag etag (If-Match),
// or creates it when there was none (If-None-Match).
func (r *Runner) putManifest(ctx context.Context, feed string, m, cur *Manifest, etag string) error {
	body, err := marshal(m)
	if err != nil {
		return err
	}
	opt := blob.WriteOptions{Meta: blob.Meta{ContentType: "application/json", CacheControl: cacheShort}}
	if cur == nil {
		opt.IfNoneMatch = true
	} else {
		opt.IfMatch = etag
	}
	_, err = r.Store.Put(ctx, manifestKey(feed), bytes.NewReader(body), opt)
	return err
}

// repair brings latest.json, then schema.json, in line with the manifest:
// every run ends with it, so whatever a killed run left is completed by the
// next one, even one whose content is unchanged or that is skipped. d, when
// it is the manifest's current version, supplies schema.json's bytes.
func (r *Runner) repair(ctx context.Context, feed string, d *document) error {
	ctx = context.WithoutCancel(ctx) // the manifest is written: finish the job
	m, err := r.syncLatest(ctx, feed)
	if err != nil || m == nil {
		return err
	}
	if err := r.step(feed, stepLatest); err != nil {
		return err
	}
	if d != nil && d.schema != nil && m.SchemaSHA256 == d.schemaSHA256 {
		if err := r.putIfChanged(ctx, schemaKey(feed), d.schema, "application/schema+json"); err != nil {
			return fmt.Errorf("write schema.json: %w", err)
		}
		if err := r.step(feed, stepSchema); err != nil {
			return err
		}
	}
	return nil
}

// syncLatest makes latest.json a copy of the version the manifest names,
// compared by x-amz-meta-version. Each copy is conditional on the ETag of the
// latest.json it replaces, and is followed by a fresh read of the manifest: a
// run that read an older manifest cannot overwrite the copy of a newer one,
// and a newer manifest written meanwhile is copied in its turn. It returns the
// manifest it agreed with (nil: nothing published).
func (r *Runner) syncLatest(ctx context.Context, feed string) (*Manifest, error) {
	for range maxAttempts + 1 {
		m, _, err := readManifest(ctx, r.Store, feed)
		if err != nil || m == nil {
			return nil, err
		}
		v := m.current()
		opt := blob.WriteOptions{Meta: latestMeta(v)}
		a, err := r.Store.Head(ctx, latestKey(feed))
		switch {
		case errors.Is(err, blob.ErrNotFound):
			opt.IfNoneMatch = true
		case err != nil:
			return nil, fmt.Errorf("read latest.json: %w", err)
		case a.User["version"] == m.Version:
			return m, nil
		default:
			opt.IfMatch = a.ETag
		}
		if _, err := r.Store.Copy(ctx, v.Key, latestKey(feed), opt); err != nil && !errors.Is(err, blob.ErrPrecondition) {
			return nil, fmt.Errorf("write latest.json: %w", err)
		}
	}
	return nil, errors.New("write latest.json: it kept changing under concurrent runs")
}

// step runs the test hook after a publish step; an error it returns stops
// the run there, as a crash would.
func (r *Runner) step(feed, name string) error {
	if r.hook == nil {
		return nil
	}
	if err := r.hook(feed, name); err != nil {
		return killed{err}
	}
	return nil
}

// sweepVersions deletes the version objects of m's feed that m does not name
// and whose time is before at: those retention dropped, and any left by an
// earlier run that died between writing its version and the manifest.
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

// nextManifest returns the manifest naming info as the newest version, with
// at most keep_versions versions.
func nextManifest(cur *Manifest, f *config.Feed, info VersionInfo) *Manifest {
	versions := []VersionInfo{info}
	if cur != nil {
		for _, v := range cur.Versions {
			if v.Version != info.Version {
				versions = append(versions, v)
			}
		}
	}
	if keep := f.KeepVersions; len(versions) > keep {
		versions = versions[:keep]
	}
	return &Manifest{
		Feed: f.Name, Version: info.Version, GeneratedAt: info.GeneratedAt, CheckedAt: info.GeneratedAt,
		Rows: info.Rows, Bytes: info.Bytes, SHA256: info.SHA256, ContentType: info.ContentType,
		ContentEncoding: info.ContentEncoding, Schema: schemaKey(f.Name), SchemaSHA256: info.SchemaSHA256,
		Latest: latestKey(f.Name), Paged: info.Paged, Pages: info.Pages, Versions: versions,
	}
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

// schemaBytes is schema.json for a mapper's document schema, and its SHA-256.
func schemaBytes(feed string, s transform.Schema) ([]byte, string, error) {
	b, err := marshal(schemaDocument(feed, s))
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:]), nil
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
