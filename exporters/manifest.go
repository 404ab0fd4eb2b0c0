package exporters

import (
	"context"
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
	Rows            int64         `json:"rows"`
	Bytes           int64         `json:"bytes"`
	SHA256          string        `json:"sha256"`
	ContentType     string        `json:"content_type"`
	ContentEncoding string        `json:"content_encoding"` // "gzip" or "identity"
	Schema          string        `json:"schema"`           // key of schema.json, relative to the prefix
	Latest          string        `json:"latest"`           // key of latest.json
	Versions        []VersionInfo `json:"versions"`         // newest first, at most keep_versions
}

// VersionInfo describes one immutable version.
type VersionInfo struct {
	Version         string    `json:"version"`
	GeneratedAt     time.Time `json:"generated_at"`
	Rows            int64     `json:"rows"`
	Bytes           int64     `json:"bytes"`
	SHA256          string    `json:"sha256"`
	ContentEncoding string    `json:"content_encoding"`
	Key             string    `json:"key"` // relative to the prefix
}

// versionTimeLayout names versions: 20261122T140000Z-<12 hex of sha256>.
const versionTimeLayout = "20060102T150405Z"

// VersionName returns the version name for a scheduled time and a document hash.
func VersionName(t time.Time, sha256 string) string {
	return t.UTC().Format(versionTimeLayout) + "-" + sha256[:12]
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
	b, a, err := blob.ReadAll(ctx, s, manifestKey(feed))
	if errors.Is(err, blob.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, "", fmt.Errorf("read manifest %s: %w", manifestKey(feed), err)
	}
	return &m, a.ETag, nil
}

// encodingName maps the HTTP Content-Encoding to the manifest's name.
func encodingName(contentEncoding string) string {
	if contentEncoding == "" {
		return "identity"
	}
	return contentEncoding
}
