// Package check verifies a published feed prefix as a consumer sees it
// (CONTRACT §2 `sqlfeed check`, §5 layout): it reads index.json and, for every
// feed, the manifest, schema.json and latest.json (a paged feed: its page index
// and every page), streams each document through SHA-256 and a JSON decoder
// (memory stays flat for any size), validates every document against the
// schema, and compares sha256, rows and bytes with the manifest. Over HTTP it
// also checks Content-Type, Content-Encoding and Cache-Control and that a
// conditional GET with the ETag answers 304. It checks freshness from the
// manifest's checked_at against twice the schedule's interval or a maximum age.
//
// The package reads the published JSON with its own types, as any consumer
// would, so it also catches a publisher that drifts from the contract.
package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"time"

	"encoding/json"
)

// Options tune a check.
type Options struct {
	// MaxAge is the longest time since a feed was last confirmed (checked_at);
	// zero: twice the interval of the feed's schedule (no limit without one).
	MaxAge time.Duration
	// Concurrency is how many feeds, and separately how many pages, are
	// checked at once (default 4).
	Concurrency int
	// HTTPClient reads http(s) URLs; nil: a client that leaves Content-Encoding alone.
	HTTPClient *http.Client
	// Now is the clock of the freshness check (nil: time.Now).
	Now func() time.Time
	// Progress, when set, is called as a feed's documents are read with the
	// bytes read so far (uncompressed) of that feed.
	Progress func(feed string, bytes int64)
}

// Report is the outcome of a check (the JSON of `sqlfeed check --json`).
type Report struct {
	// OK is true when nothing is wrong.
	OK bool `json:"ok"`
	// Problems are what belongs to no feed: an unreachable URL, a missing index.json.
	Problems []string `json:"problems"`
	// Feeds lists every feed of index.json, with its problems.
	Feeds []*Feed `json:"feeds"`
}

// Feed is the outcome of one feed.
type Feed struct {
	Feed string `json:"feed"`
	// Problems are lines naming the feed and what is wrong.
	Problems []string `json:"problems"`

	// What was found, for the summary table.
	Version   string        `json:"-"`
	Rows      int64         `json:"-"`
	Bytes     int64         `json:"-"`
	Pages     int           `json:"-"`
	Paged     bool          `json:"-"`
	Confirmed time.Time     `json:"-"` // checked_at (or generated_at)
	MaxAge    time.Duration `json:"-"` // the freshness limit applied; 0 none

	mu sync.Mutex
}

func (f *Feed) problem(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Problems = append(f.Problems, fmt.Sprintf("feed %s: ", f.Feed)+fmt.Sprintf(format, args...))
}

// Lines returns every problem of the report, one line each.
func (r *Report) Lines() []string {
	out := append([]string{}, r.Problems...)
	for _, f := range r.Feeds {
		out = append(out, f.Problems...)
	}
	return out
}

// The published JSON, as a consumer reads it (CONTRACT §5).
type catalog struct {
	Feeds []catalogFeed `json:"feeds"`
}

type catalogFeed struct {
	Name     string `json:"name"`
	Schedule string `json:"schedule"`
	Format   string `json:"format"`
	Paged    bool   `json:"paged"`
}

type manifest struct {
	Feed            string    `json:"feed"`
	Version         string    `json:"version"`
	GeneratedAt     time.Time `json:"generated_at"`
	CheckedAt       time.Time `json:"checked_at"`
	Rows            int64     `json:"rows"`
	Bytes           int64     `json:"bytes"`
	SHA256          string    `json:"sha256"`
	ContentType     string    `json:"content_type"`
	ContentEncoding string    `json:"content_encoding"`
	Paged           bool      `json:"paged"`
	Versions        []struct {
		Version string `json:"version"`
	} `json:"versions"`
}

// pageIndex is a paged feed's latest.json and versions/<version>.json.
type pageIndex struct {
	Feed            string    `json:"feed"`
	Version         string    `json:"version"`
	GeneratedAt     time.Time `json:"generated_at"`
	Rows            int64     `json:"rows"`
	Bytes           int64     `json:"bytes"`
	SHA256          string    `json:"sha256"`
	ContentType     string    `json:"content_type"`
	ContentEncoding string    `json:"content_encoding"`
	Pages           []page    `json:"pages"`
}

type page struct {
	URL    string          `json:"url"`
	Rows   int64           `json:"rows"`
	Bytes  int64           `json:"bytes"`
	SHA256 string          `json:"sha256"`
	First  json.RawMessage `json:"first"`
	Last   json.RawMessage `json:"last"`
}

// Metadata of CONTRACT §5.
const (
	cacheShort     = "public, max-age=60"
	cacheImmutable = "public, max-age=31536000, immutable"
	typeJSON       = "application/json"
	typeNDJSON     = "application/x-ndjson"
	typeSchema     = "application/schema+json"
	smallLimit     = 64 << 20 // index.json, manifests, schemas, page indexes
)

var feedName = regexp.MustCompile(`^[a-z0-9-]+$`)

// Run checks the prefix at rawURL. The error is for a URL that cannot be
// used at all (bad syntax or scheme); everything found wrong is in the report.
func Run(ctx context.Context, rawURL string, opt Options) (*Report, error) {
	if opt.Concurrency < 1 {
		opt.Concurrency = 4
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	rep := &Report{Problems: []string{}, Feeds: []*Feed{}}
	src, err := openSource(ctx, rawURL, opt.HTTPClient)
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			return nil, err
		}
		rep.Problems = append(rep.Problems, err.Error())
		return rep, nil
	}
	defer src.close()
	c := &checker{src: src, opt: opt, pages: make(chan struct{}, opt.Concurrency)}

	o, err := src.get(ctx, "index.json")
	if err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("index.json: %v", err))
		return rep, nil
	}
	if src.http() {
		for _, p := range metaProblems(o, typeJSON, "", cacheShort) {
			rep.Problems = append(rep.Problems, "index.json: "+p)
		}
	}
	var cat catalog
	if err := readJSON(o, &cat); err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("index.json: %v", err))
		return rep, nil
	}
	if len(cat.Feeds) == 0 {
		rep.Problems = append(rep.Problems, "index.json lists no feeds")
	}
	sem := make(chan struct{}, opt.Concurrency)
	var wg sync.WaitGroup
	for _, cf := range cat.Feeds {
		f := &Feed{Feed: cf.Name, Problems: []string{}}
		rep.Feeds = append(rep.Feeds, f)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c.feed(ctx, cf, f)
		}()
	}
	wg.Wait()
	rep.OK = len(rep.Lines()) == 0
	return rep, nil
}

type checker struct {
	src   source
	opt   Options
	pages chan struct{} // bounds the pages read at once
}

// readJSON decodes a small object's body into v and closes it.
func readJSON(o *object, v any) error {
	defer o.body.Close()
	r, err := decoded(o.body, o.contentEncoding)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(r, smallLimit+1))
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if len(b) > smallLimit {
		return fmt.Errorf("larger than %d MiB", smallLimit>>20)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("not the JSON of the contract: %w", err)
	}
	return nil
}

// metaProblems compares an object's HTTP metadata with what §5 says.
func metaProblems(o *object, contentType, contentEncoding, cacheControl string) []string {
	var out []string
	if o.contentType != contentType {
		out = append(out, fmt.Sprintf("Content-Type is %q, want %q", o.contentType, contentType))
	}
	if o.contentEncoding != contentEncoding {
		out = append(out, fmt.Sprintf("Content-Encoding is %q, want %q", o.contentEncoding, contentEncoding))
	}
	if o.cacheControl != cacheControl {
		out = append(out, fmt.Sprintf("Cache-Control is %q, want %q", o.cacheControl, cacheControl))
	}
	return out
}

// httpEncoding maps the manifest's content_encoding to the HTTP header.
func httpEncoding(e string) string {
	if e == "identity" {
		return ""
	}
	return e
}

func (c *checker) feed(ctx context.Context, cf catalogFeed, f *Feed) {
	if !feedName.MatchString(cf.Name) {
		f.problem("index.json names a feed %q that is not [a-z0-9-]+", cf.Name)
		return
	}
	f.Paged = cf.Paged
	name := cf.Name
	o, err := c.src.get(ctx, name+"/manifest.json")
	if err != nil {
		f.problem("manifest.json: %v", err)
		return
	}
	if c.src.http() {
		for _, p := range metaProblems(o, typeJSON, "", cacheShort) {
			f.problem("manifest.json: %s", p)
		}
	}
	var m manifest
	if err := readJSON(o, &m); err != nil {
		f.problem("manifest.json: %v", err)
		return
	}
	f.Version, f.Rows, f.Bytes = m.Version, m.Rows, m.Bytes
	f.Paged = f.Paged || m.Paged
	if m.Feed != name {
		f.problem("manifest.json names feed %q", m.Feed)
	}
	if m.Version == "" {
		f.problem("manifest.json names no version")
		return
	}
	if len(m.Versions) > 0 && m.Versions[0].Version != m.Version {
		f.problem("manifest.json: version %s is not the newest of its versions (%s)", m.Version, m.Versions[0].Version)
	}
	c.freshness(cf, &m, f)

	// The newest version object exists.
	vkey := name + "/versions/" + m.Version + ".json"
	if vo, err := c.src.head(ctx, vkey); err != nil {
		f.problem("the manifest's version %s: %v", m.Version, err)
	} else if c.src.http() {
		ct, ce := m.ContentType, httpEncoding(m.ContentEncoding)
		if f.Paged {
			ct, ce = typeJSON, ""
		}
		for _, p := range metaProblems(vo, ct, ce, cacheImmutable) {
			f.problem("versions/%s.json: %s", m.Version, p)
		}
	}

	schema := c.schema(ctx, name, f)
	if f.Paged {
		c.paged(ctx, name, &m, schema, f)
		return
	}
	c.latest(ctx, name, &m, schema, f)
}

// freshness checks checked_at (else generated_at) against the limit.
func (c *checker) freshness(cf catalogFeed, m *manifest, f *Feed) {
	at, field := m.CheckedAt, "checked_at"
	if at.IsZero() {
		at, field = m.GeneratedAt, "generated_at"
	}
	f.Confirmed = at
	now := c.opt.Now()
	limit, why := c.opt.MaxAge, "--max-age"
	if limit == 0 {
		if cf.Schedule == "" {
			return
		}
		d, err := Interval(cf.Schedule, now)
		if err != nil {
			f.problem("cannot tell its schedule's interval (pass --max-age): %v", err)
			return
		}
		limit, why = 2*d, "twice its schedule "+cf.Schedule
	}
	f.MaxAge = limit
	if at.IsZero() {
		f.problem("manifest.json has no %s: cannot tell when it was last confirmed", field)
		return
	}
	if age := now.Sub(at); age > limit {
		f.problem("stale: last confirmed %s (%s, %s ago), longer ago than %s (%s)",
			at.UTC().Format(time.RFC3339), field, age.Round(time.Second), limit, why)
	}
}
