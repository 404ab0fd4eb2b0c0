// Package config loads sqlfeed.yaml (CONTRACT §3): feeds, their queries and
// mappers. Every error names the file and line it comes from.
package config

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sqlfeed/sqlfeed/row"
)

// File is a loaded config file.
type File struct {
	Path     string
	Version  int
	Defaults Defaults
	Feeds    []*Feed
	// PublicURL is the public URL of the destination prefix (top-level
	// public_url, overridden by $SQLFEED_PUBLIC_URL): the pages' fetch
	// snippets show absolute URLs under it. Empty: paths relative to the prefix.
	PublicURL string
}

// Defaults apply to every feed that does not set its own value.
type Defaults struct {
	Format       string // json | ndjson
	Compress     string // gzip | none
	KeepVersions int
	Timezone     string
	MinRows      int     // default 1
	MaxShrink    float64 // 0: not set
}

// Feed is one published feed.
type Feed struct {
	Name        string
	Description string
	Schedule    string // EventBridge rate(...) or cron(...)
	Query       string
	// Queries holds engine-specific variants of Query ("sqlite", "mysql",
	// "postgres"); the one for the source's engine replaces Query.
	Queries      map[string]string
	Mapper       string
	Fields       []row.FieldSpec
	Group        *row.GroupSpec
	Options      map[string]any
	Format       string
	Compress     string
	KeepVersions int
	Timezone     string
	Location     *time.Location
	// MinRows is the fewest documents a run may publish (default 1; 0
	// allows an empty feed).
	MinRows int
	// MaxShrink, when above 0, is the largest share of the published
	// version's rows a run may lose (0 < MaxShrink ≤ 1); a run that loses
	// more fails unless forced.
	MaxShrink float64
	Pages     *Pages // nil: one document
	// Shards is how many key ranges a paged feed is exported in at once
	// (CONTRACT §3 shards); 0: not sharded.
	Shards int
	// PlanQuery, optional for a sharded feed, returns one row of two columns:
	// the lowest and highest pages.by value, cheaper than MIN/MAX over the query.
	PlanQuery string
	Pos       string // "file:line" of the feed
}

// Pages configures a paged feed (CONTRACT §3 "Paged feeds").
type Pages struct {
	By       string        // result column the query orders by, unique per document, published by the mapper
	Rows     int           // mean documents per page
	MaxBytes int64         // largest page, uncompressed, unless one document is larger
	Grace    time.Duration // retention keeps unnamed pages this long
	Pos      string
}

// Defaults of a feed's pages.
const (
	DefaultPageRows     = 10000
	DefaultPageMaxBytes = 8 << 20
	DefaultPageGrace    = 24 * time.Hour
)

// QueryFor returns the SQL the feed runs on engine.
func (f *Feed) QueryFor(engine string) string {
	if q, ok := f.Queries[engine]; ok {
		return q
	}
	return f.Query
}

// Spec is what the feed's mapper factory receives.
func (f *Feed) Spec() row.Spec {
	return row.Spec{Feed: f.Name, Fields: f.Fields, Group: f.Group, Options: f.Options}
}

// Feed returns the feed called name, or nil.
func (c *File) Feed(name string) *Feed {
	for _, f := range c.Feeds {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Error is a config error at a position.
type Error struct {
	Pos string
	Msg string
}

// Error returns "file:line: message".
func (e *Error) Error() string { return e.Pos + ": " + e.Msg }

// Mappers checks a feed's mapper: that name is registered and builds for
// spec. transform.Default (a *transform.Registry) is the usual one; the caller
// passes it in, so this adapter knows nothing of mappers.
type Mappers interface {
	Check(name string, spec row.Spec) error
}

// Load reads the config file at path and checks it against mappers.
func Load(path string, mappers Mappers) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, mappers)
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9-]+$`)
	engines   = map[string]bool{"sqlite": true, "mysql": true, "postgres": true}
	envVarRE  = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)
	scheduleR = regexp.MustCompile(`^(rate|cron)\(.+\)$`)
)

// Parse parses config text; name is used in error positions. Mappers are
// looked up in reg. ${VAR} and ${VAR:-default} are expanded from the
// environment inside scalar values (see expand).
func Parse(name string, data []byte, reg Mappers) (*File, error) {
	return parse(name, data, reg, os.LookupEnv)
}

// parse is Parse with the variables read through lookup.
func parse(name string, data []byte, reg Mappers, lookup func(string) (string, bool)) (*File, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	p := &parser{name: name, lookup: lookup}
	if err := p.expand(&doc, ""); err != nil {
		return nil, err
	}
	f := &File{Path: name, Defaults: Defaults{Format: "json", Compress: "none", KeepVersions: 30, Timezone: "UTC", MinRows: 1}}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &Error{Pos: name + ":1", Msg: "empty config: want version, defaults and feeds"}
	}
	root := doc.Content[0]
	var feedsNode *yaml.Node
	err := p.mapping(root, func(key string, k, v *yaml.Node) error {
		switch key {
		case "version":
			n, err := p.int(k, v)
			if err == nil && n != 1 {
				return p.errf(v, "unsupported config version %d (want 1)", n)
			}
			f.Version = n
			return err
		case "defaults":
			return p.mapping(v, func(key string, k, v *yaml.Node) error {
				switch key {
				case "format":
					return p.str(v, &f.Defaults.Format)
				case "compress":
					return p.str(v, &f.Defaults.Compress)
				case "keep_versions":
					n, err := p.int(k, v)
					f.Defaults.KeepVersions = n
					return err
				case "timezone":
					return p.str(v, &f.Defaults.Timezone)
				case "min_rows":
					n, err := p.minRows(k, v)
					f.Defaults.MinRows = n
					return err
				case "max_shrink":
					x, err := p.maxShrink(k, v)
					f.Defaults.MaxShrink = x
					return err
				}
				return p.unknown(k, "defaults")
			})
		case "feeds":
			feedsNode = v
			return nil
		case "public_url":
			if err := p.str(v, &f.PublicURL); err != nil {
				return err
			}
			return checkPublicURL(f.PublicURL, p.pos(v))
		}
		return p.unknown(k, "the config file")
	})
	if err != nil {
		return nil, err
	}
	if f.Version == 0 {
		return nil, p.errf(root, "missing version: 1")
	}
	if v, ok := os.LookupEnv("SQLFEED_PUBLIC_URL"); ok && v != "" {
		if err := checkPublicURL(v, "$SQLFEED_PUBLIC_URL"); err != nil {
			return nil, err
		}
		f.PublicURL = v
	}
	if feedsNode == nil || feedsNode.Kind != yaml.SequenceNode || len(feedsNode.Content) == 0 {
		return nil, p.errf(root, "feeds: want a list of at least one feed")
	}
	seen := map[string]string{}
	for _, n := range feedsNode.Content {
		feed, err := p.feed(n, f.Defaults)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[feed.Name]; dup {
			return nil, &Error{Pos: feed.Pos, Msg: fmt.Sprintf("duplicate feed name %q (first at %s)", feed.Name, prev)}
		}
		seen[feed.Name] = feed.Pos
		if err := checkFeed(feed, reg); err != nil {
			return nil, err
		}
		f.Feeds = append(f.Feeds, feed)
	}
	return f, nil
}

// checkPublicURL requires an absolute http(s) URL without query or fragment
// (feed paths are appended to it).
func checkPublicURL(s, pos string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return &Error{Pos: pos, Msg: fmt.Sprintf("public_url %q: want an absolute http(s) URL without query or fragment, e.g. https://bucket.s3.amazonaws.com/feeds", s)}
	}
	return nil
}

// checkFeed validates a parsed feed: values in range and a mapper that builds.
func checkFeed(feed *Feed, reg Mappers) error {
	bad := func(msg string, args ...any) error {
		return &Error{Pos: feed.Pos, Msg: fmt.Sprintf("feed %q: ", feed.Name) + fmt.Sprintf(msg, args...)}
	}
	switch {
	case !nameRE.MatchString(feed.Name):
		return bad("name must match [a-z0-9-]+")
	case strings.TrimSpace(feed.Query) == "" && len(feed.Queries) == 0:
		return bad("query is required")
	case feed.Format != "json" && feed.Format != "ndjson":
		return bad("format %q: want json or ndjson", feed.Format)
	case feed.Compress != "gzip" && feed.Compress != "none":
		return bad("compress %q: want gzip or none", feed.Compress)
	case feed.KeepVersions < 1:
		return bad("keep_versions must be at least 1")
	case feed.Schedule != "" && !scheduleR.MatchString(feed.Schedule):
		return bad("schedule %q: want rate(...) or cron(...)", feed.Schedule)
	}
	loc, err := time.LoadLocation(feed.Timezone)
	if err != nil {
		return bad("timezone %q: %v", feed.Timezone, err)
	}
	feed.Location = loc
	if err := reg.Check(feed.Mapper, feed.Spec()); err != nil {
		return bad("%v", err)
	}
	return nil
}

type parser struct {
	name   string
	lookup func(string) (string, bool) // the environment
}

// expand replaces ${VAR} and ${VAR:-default} in every scalar value under n,
// after parsing: a value can hold any text (newlines, "- name: …") and still
// adds no key or feed. Keys and comments are not expanded, and expanded text
// is not expanded again. key names the enclosing key in errors. Typed keys
// are converted from the expanded text afterwards.
func (p *parser) expand(n *yaml.Node, key string) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if err := p.expand(c, key); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := p.expand(n.Content[i+1], n.Content[i].Value); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		return p.expandScalar(n, key)
	}
	return nil // an alias: its anchor is expanded where it is defined
}

// expandScalar expands the variables of one scalar value in place.
func (p *parser) expandScalar(n *yaml.Node, key string) error {
	matches := envVarRE.FindAllStringSubmatchIndex(n.Value, -1)
	if matches == nil {
		return nil
	}
	var b strings.Builder
	last := 0
	for _, m := range matches {
		v, ok := p.lookup(n.Value[m[2]:m[3]])
		if !ok && m[4] < 0 {
			line := n.Line
			if n.Style&yaml.LiteralStyle != 0 { // the text starts below "key: |"
				line += 1 + strings.Count(n.Value[:m[0]], "\n")
			}
			return &Error{Pos: fmt.Sprintf("%s:%d", p.name, line), Msg: fmt.Sprintf("%s: %s is not set and has no default", key, n.Value[m[0]:m[1]])}
		}
		if !ok {
			v = n.Value[m[6]:m[7]]
		}
		b.WriteString(n.Value[last:m[0]])
		b.WriteString(v)
		last = m[1]
	}
	b.WriteString(n.Value[last:])
	n.Value = b.String()
	if n.Style&(yaml.TaggedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		n.Tag = "" // a plain scalar's type follows its new text (options: {limit: ${N}} is a number)
	}
	return nil
}

func (p *parser) pos(n *yaml.Node) string { return fmt.Sprintf("%s:%d", p.name, n.Line) }

func (p *parser) errf(n *yaml.Node, format string, args ...any) error {
	return &Error{Pos: p.pos(n), Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) unknown(k *yaml.Node, where string) error {
	return p.errf(k, "unknown key %q in %s", k.Value, where)
}

// mapping calls fn for each key of a mapping node, rejecting duplicate keys.
func (p *parser) mapping(n *yaml.Node, fn func(key string, k, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "want a mapping (key: value)")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return p.errf(k, "key %q given twice", k.Value)
		}
		seen[k.Value] = true
		if err := fn(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) str(n *yaml.Node, dst *string) error {
	if n.Kind != yaml.ScalarNode {
		return p.errf(n, "want a string")
	}
	*dst = n.Value
	return nil
}

// int converts the value n of key k; errors name the key.
func (p *parser) int(k, n *yaml.Node) (int, error) {
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return 0, p.errf(n, "%s: want a whole number, got %q", k.Value, n.Value)
	}
	return v, nil
}

// bool converts the value n of key k; errors name the key.
func (p *parser) bool(k, n *yaml.Node) (bool, error) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		return false, p.errf(n, "%s: want true or false, got %q", k.Value, n.Value)
	}
	return b, nil
}

// minRows converts a min_rows value: a whole number, at least 0.
func (p *parser) minRows(k, n *yaml.Node) (int, error) {
	v, err := p.int(k, n)
	if err == nil && v < 0 {
		err = p.errf(n, "%s: want 0 or more, got %d", k.Value, v)
	}
	return v, err
}

// maxShrink converts a max_shrink value: a share above 0, at most 1.
func (p *parser) maxShrink(k, n *yaml.Node) (float64, error) {
	v, err := strconv.ParseFloat(n.Value, 64)
	if n.Kind != yaml.ScalarNode || err != nil || !(v > 0 && v <= 1) {
		return 0, p.errf(n, "%s: want a share above 0 and at most 1 (e.g. 0.5), got %q", k.Value, n.Value)
	}
	return v, nil
}

func (p *parser) feed(n *yaml.Node, d Defaults) (*Feed, error) {
	f := &Feed{Pos: p.pos(n), Mapper: "fields", Format: d.Format, Compress: d.Compress,
		KeepVersions: d.KeepVersions, Timezone: d.Timezone, MinRows: d.MinRows, MaxShrink: d.MaxShrink}
	err := p.mapping(n, func(key string, k, v *yaml.Node) error {
		switch key {
		case "name":
			return p.str(v, &f.Name)
		case "description":
			return p.str(v, &f.Description)
		case "schedule":
			return p.str(v, &f.Schedule)
		case "query":
			return p.str(v, &f.Query)
		case "queries":
			f.Queries = map[string]string{}
			return p.mapping(v, func(engine string, k, v *yaml.Node) error {
				if !engines[engine] {
					return p.errf(k, "queries: unknown engine %q (want sqlite, mysql or postgres)", engine)
				}
				var q string
				err := p.str(v, &q)
				f.Queries[engine] = q
				return err
			})
		case "mapper":
			return p.str(v, &f.Mapper)
		case "fields":
			fields, err := p.fields(v)
			f.Fields = fields
			return err
		case "group":
			g, err := p.group(v)
			f.Group = g
			return err
		case "options":
			return v.Decode(&f.Options)
		case "format":
			return p.str(v, &f.Format)
		case "compress":
			return p.str(v, &f.Compress)
		case "keep_versions":
			n, err := p.int(k, v)
			f.KeepVersions = n
			return err
		case "timezone":
			return p.str(v, &f.Timezone)
		case "min_rows":
			n, err := p.minRows(k, v)
			f.MinRows = n
			return err
		case "max_shrink":
			x, err := p.maxShrink(k, v)
			f.MaxShrink = x
			return err
		case "pages":
			pg, err := p.pages(v)
			f.Pages = pg
			return err
		case "shards":
			n, err := p.int(k, v)
			if err == nil && n < 1 {
				err = p.errf(v, "shards must be at least 1, got %d", n)
			}
			f.Shards = n
			return err
		case "plan_query":
			return p.str(v, &f.PlanQuery)
		}
		return p.unknown(k, "a feed")
	})
	if err == nil && f.Name == "" {
		err = p.errf(n, "feed without a name")
	}
	if err == nil && f.Pages == nil && (f.Shards > 0 || f.PlanQuery != "") {
		err = p.errf(n, "feed %q: shards and plan_query need pages (only paged feeds can be sharded)", f.Name)
	}
	if err == nil && f.Shards == 0 && f.PlanQuery != "" {
		err = p.errf(n, "feed %q: plan_query without shards", f.Name)
	}
	return f, err
}

// pages parses a feed's pages: {by, rows, max_bytes, grace}.
func (p *parser) pages(n *yaml.Node) (*Pages, error) {
	pg := &Pages{Rows: DefaultPageRows, MaxBytes: DefaultPageMaxBytes, Grace: DefaultPageGrace, Pos: p.pos(n)}
	err := p.mapping(n, func(key string, k, v *yaml.Node) error {
		switch key {
		case "by":
			if err := p.str(v, &pg.By); err != nil {
				return err
			}
			if pg.By == "" {
				return p.errf(v, "pages.by: want the column the query orders by")
			}
			return nil
		case "rows":
			n, err := p.int(k, v)
			if err == nil && n < 1 {
				err = p.errf(v, "pages.rows must be at least 1, got %d", n)
			}
			pg.Rows = n
			return err
		case "max_bytes":
			n, err := p.int(k, v)
			if err == nil && n < 1024 {
				err = p.errf(v, "pages.max_bytes must be at least 1024, got %d", n)
			}
			pg.MaxBytes = int64(n)
			return err
		case "grace":
			d, err := time.ParseDuration(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || d <= 0 {
				return p.errf(v, "pages.grace: want a positive duration such as 24h, got %q", v.Value)
			}
			pg.Grace = d
			return nil
		}
		return p.unknown(k, "pages")
	})
	if err == nil && pg.By == "" {
		err = p.errf(n, "pages: by is required (the unique column the query orders by)")
	}
	return pg, err
}

func (p *parser) group(n *yaml.Node) (*row.GroupSpec, error) {
	g := &row.GroupSpec{Pos: p.pos(n)}
	err := p.mapping(n, func(key string, k, v *yaml.Node) error {
		switch key {
		case "by":
			return p.str(v, &g.By)
		case "into":
			return p.str(v, &g.Into)
		case "fields":
			fields, err := p.fields(v)
			g.Fields = fields
			return err
		}
		return p.unknown(k, "group")
	})
	return g, err
}

// maxScale bounds a field's scale: DECIMAL's 65 digits (a negative scale
// would silently mean "not set"; a huge one would build a huge number).
const maxScale = 65

// fields parses an ordered allowlist: `key: Column` or `key: {column, type, omit_null, scale}`.
func (p *parser) fields(n *yaml.Node) ([]row.FieldSpec, error) {
	var out []row.FieldSpec
	err := p.mapping(n, func(key string, k, v *yaml.Node) error {
		fs := row.FieldSpec{Key: key, Scale: -1, Pos: p.pos(k)}
		switch v.Kind {
		case yaml.ScalarNode:
			fs.Column = v.Value
		case yaml.MappingNode:
			err := p.mapping(v, func(key string, k, v *yaml.Node) error {
				switch key {
				case "column":
					return p.str(v, &fs.Column)
				case "type":
					kind, err := row.ParseKind(v.Value)
					if err != nil {
						return p.errf(v, "%v", err)
					}
					fs.Type = kind
					return nil
				case "omit_null":
					b, err := p.bool(k, v)
					fs.OmitNull = b
					return err
				case "scale":
					n, err := p.int(k, v)
					if err == nil && (n < 0 || n > maxScale) {
						err = p.errf(v, "field %q: scale must be from 0 to %d, got %d", fs.Key, maxScale, n)
					}
					fs.Scale = n
					return err
				}
				return p.unknown(k, "a field")
			})
			if err != nil {
				return err
			}
		default:
			return p.errf(v, "field %q: want a column name or {column: …, type: …}", key)
		}
		if fs.Column == "" {
			return p.errf(k, "field %q names no column", key)
		}
		out = append(out, fs)
		return nil
	})
	return out, err
}
