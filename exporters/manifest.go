package exporters

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// Manifest is <feed>/manifest.json (CONTRACT §5).
type Manifest struct {
	Feed            string        `json:"feed"`
	Version         string        `json:"version"`
	GeneratedAt     time.Time     `json:"generated_at"`
	CheckedAt       time.Time     `json:"checked_at"` // last run that found this content current
	Rows            int64         `json:"rows"`
	Bytes           int64         `json:"bytes"`
	SHA256          string        `json:"sha256"`
	ContentType     string        `json:"content_type"`
	ContentEncoding string        `json:"content_encoding"` // "gzip" or "identity"
	Schema          string        `json:"schema"`           // key of schema.json, relative to the prefix
	SchemaSHA256    string        `json:"schema_sha256"`    // SHA-256 of schema.json's bytes
	Latest          string        `json:"latest"`           // key of latest.json
	Paged           bool          `json:"paged,omitempty"`  // latest.json is a page index; content_* describe its pages
	Pages           int           `json:"pages,omitempty"`  // paged: the current version's page count
	Versions        []VersionInfo `json:"versions"`         // newest first, at most keep_versions
}

// VersionInfo describes one immutable version.
type VersionInfo struct {
	Version         string    `json:"version"`
	GeneratedAt     time.Time `json:"generated_at"`
	Rows            int64     `json:"rows"`
	Bytes           int64     `json:"bytes"`
	SHA256          string    `json:"sha256"`
	ContentType     string    `json:"content_type"`
	ContentEncoding string    `json:"content_encoding"`
	SchemaSHA256    string    `json:"schema_sha256"`
	Key             string    `json:"key"`             // relative to the prefix
	Paged           bool      `json:"paged,omitempty"` // the object is a page index
	Pages           int       `json:"pages,omitempty"`
}

// versionTimeLayout names versions: 20261122T140000Z-<8 hex of a run id>.
const versionTimeLayout = "20060102T150405Z"

// VersionName returns the version name for a run's time and its run id.
func VersionName(t time.Time, runID string) string {
	return t.UTC().Format(versionTimeLayout) + "-" + runID
}

// newRunID returns 8 lowercase hex digits from the system's random source.
func newRunID() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("run id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// versionTime returns the scheduled time a version name carries.
func versionTime(version string) (time.Time, error) {
	ts, _, _ := strings.Cut(version, "-")
	return time.Parse(versionTimeLayout, ts)
}

// Keys of a feed's objects (CONTRACT §5).
func manifestKey(feed string) string         { return feed + "/manifest.json" }
func latestKey(feed string) string           { return feed + "/latest.json" }
func schemaKey(feed string) string           { return feed + "/schema.json" }
func versionKey(feed, version string) string { return feed + "/versions/" + version + ".json" }

// readManifest returns the feed's manifest and its ETag; (nil, "", nil) when
// the feed has never been published.
func readManifest(ctx context.Context, s blob.Store, feed string) (*Manifest, string, error) {
	m, a, err := readManifestAttrs(ctx, s, feed)
	return m, a.ETag, err
}

// readManifestAttrs is readManifest with the object's attributes (ETag, and
// the store's clock in Date).
func readManifestAttrs(ctx context.Context, s blob.Store, feed string) (*Manifest, blob.Attrs, error) {
	b, a, err := blob.ReadAll(ctx, s, manifestKey(feed))
	if errors.Is(err, blob.ErrNotFound) {
		return nil, a, nil
	}
	if err != nil {
		return nil, a, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, a, fmt.Errorf("read manifest %s: %w", manifestKey(feed), err)
	}
	return &m, a, nil
}

// current returns the manifest's entry for its current version.
func (m *Manifest) current() VersionInfo {
	for _, v := range m.Versions {
		if v.Version == m.Version {
			return v
		}
	}
	return VersionInfo{Version: m.Version, GeneratedAt: m.GeneratedAt, Rows: m.Rows, Bytes: m.Bytes, SHA256: m.SHA256,
		ContentType: m.ContentType, ContentEncoding: m.ContentEncoding, SchemaSHA256: m.SchemaSHA256,
		Key: versionKey(m.Feed, m.Version), Paged: m.Paged, Pages: m.Pages}
}

// encodingName maps the HTTP Content-Encoding to the manifest's name.
func encodingName(contentEncoding string) string {
	if contentEncoding == "" {
		return "identity"
	}
	return contentEncoding
}
