package config

import (
	"strings"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/transform"
	_ "github.com/sqlfeed/sqlfeed/transform/artistcard"
)

func TestLoadSample(t *testing.T) {
	f, err := Load("../../sqlfeed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, feed := range f.Feeds {
		names = append(names, feed.Name)
	}
	if got := strings.Join(names, ","); got != "tracks,tracks-paged,albums,genres,invoices-by-country,artists" {
		t.Fatalf("feeds %s", got)
	}
	tracks := f.Feed("tracks")
	if tracks.Fields[2].Key != "album.id" || tracks.Fields[8].Type != transform.KindDecimal || tracks.Fields[8].Scale != 2 {
		t.Fatalf("fields not in config order or types lost: %+v", tracks.Fields)
	}
	if !tracks.Fields[6].OmitNull || tracks.KeepVersions != 30 || tracks.Format != "json" || tracks.Location == nil {
		t.Fatalf("defaults/omit_null: %+v", tracks)
	}
	if !strings.Contains(tracks.QueryFor("postgres"), "track_id") || !strings.Contains(tracks.QueryFor("mysql"), "TrackId") {
		t.Fatal("engine-specific query not chosen")
	}
	if p := f.Feed("tracks-paged").Pages; p == nil || p.By != "TrackId" || p.Rows != 500 || p.MaxBytes != DefaultPageMaxBytes {
		t.Fatalf("tracks-paged pages: %+v", p)
	}
	if f.Feed("albums").Group.Into != "tracks" || f.Feed("albums").Compress != "gzip" {
		t.Fatalf("albums: %+v", f.Feed("albums"))
	}
}

const base = `version: 1
feeds:
  - name: a
    query: SELECT 1 AS x
    fields: {x: x}
`

func TestParseErrors(t *testing.T) {
	t.Setenv("SQLFEED_TEST_SET", "ok")
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown top key", base + "extra: 1\n", `f.yaml:6: unknown key "extra" in the config file`},
		{"unknown feed key", strings.Replace(base, "    query:", "    qeury: x\n    query:", 1), `f.yaml:4: unknown key "qeury" in a feed`},
		{"unknown field key", strings.Replace(base, "{x: x}", "{x: {column: x, tpye: int}}", 1), `f.yaml:5: unknown key "tpye" in a field`},
		{"unknown mapper", strings.Replace(base, "    fields:", "    mapper: nope\n    fields:", 1), `f.yaml:3: feed "a": mapper "nope" is not registered`},
		{"duplicate feed", base + "  - name: a\n    query: SELECT 2\n    fields: {x: x}\n", `f.yaml:6: duplicate feed name "a" (first at f.yaml:3)`},
		{"bad name", strings.Replace(base, "name: a", "name: A_b", 1), "name must match"},
		{"negative scale", strings.Replace(base, "{x: x}", "{x: {column: x, type: decimal, scale: -2}}", 1), `f.yaml:5: field "x": scale must be from 0 to 65, got -2`},
		{"huge scale", strings.Replace(base, "{x: x}", "{x: {column: x, type: decimal, scale: 1000000000}}", 1), `scale must be from 0 to 65`},
		{"bad type", strings.Replace(base, "{x: x}", "{x: {column: x, type: money}}", 1), `f.yaml:5: unknown type "money"`},
		{"bad format", base + "    format: xml\n", `format "xml"`},
		{"bad schedule", base + "    schedule: every hour\n", "want rate(...) or cron(...)"},
		{"bad timezone", base + "    timezone: Mars/Base\n", `timezone "Mars/Base"`},
		{"no query", "version: 1\nfeeds:\n  - name: a\n    fields: {x: x}\n", "query is required"},
		{"no version", "feeds:\n  - name: a\n    query: q\n    fields: {x: x}\n", "missing version"},
		{"unset variable", strings.Replace(base, "SELECT 1", "SELECT ${SQLFEED_TEST_UNSET}", 1), "f.yaml:4: ${SQLFEED_TEST_UNSET} is not set"},
		{"yaml syntax", "version: 1\nfeeds: [\n", "f.yaml:"},
		{"raw with fields", strings.Replace(base, "    fields:", "    mapper: raw\n    fields:", 1), "takes no fields"},
		{"duplicate key", base + "    query: again\n", `key "query" given twice`},
		{"bad engine", base + "    queries: {oracle: x}\n", `unknown engine "oracle"`},
		{"pages without by", base + "    pages: {rows: 10}\n", `f.yaml:6: pages: by is required`},
		{"pages zero rows", base + "    pages: {by: x, rows: 0}\n", `f.yaml:6: pages.rows must be at least 1, got 0`},
		{"pages tiny max_bytes", base + "    pages:\n      by: x\n      max_bytes: 10\n", `f.yaml:8: pages.max_bytes must be at least 1024`},
		{"pages bad grace", base + "    pages: {by: x, grace: 1 day}\n", `f.yaml:6: pages.grace: want a positive duration`},
		{"pages negative grace", base + "    pages: {by: x, grace: -1h}\n", `pages.grace: want a positive duration`},
		{"pages unknown key", base + "    pages: {by: x, size: 3}\n", `f.yaml:6: unknown key "size" in pages`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml), transform.Default)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// TestPagesDefaults: pages take the defaults of CONTRACT §3.
func TestPagesDefaults(t *testing.T) {
	f, err := Parse("f.yaml", []byte(base+"    pages: {by: x}\n"), transform.Default)
	if err != nil {
		t.Fatal(err)
	}
	p := f.Feeds[0].Pages
	if p == nil || p.By != "x" || p.Rows != 10000 || p.MaxBytes != 8<<20 || p.Grace != 24*time.Hour || p.Pos != "f.yaml:6" {
		t.Fatalf("pages %+v", p)
	}
}

func TestExpand(t *testing.T) {
	t.Setenv("SQLFEED_TEST_SET", "tracks")
	got, err := Expand("f", []byte("a: ${SQLFEED_TEST_SET}\nb: ${SQLFEED_TEST_UNSET:-def}\nc: ${SQLFEED_TEST_SET:-x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "a: tracks\nb: def\nc: tracks\n" {
		t.Fatalf("got %q", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte("version: 1\nfeeds:\n  - {name: x, query: q, mapper: raw}\n"))
	f.Add([]byte("version: 1\nfeeds:\n  - name: a\n    query: q\n    mapper: group\n    fields: {a: b}\n    group: {by: b, into: c, fields: {d: e}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yaml", data, transform.Default)
		if err == nil && len(cfg.Feeds) == 0 {
			t.Fatal("a valid config has at least one feed")
		}
		if err != nil && !strings.Contains(err.Error(), "f.yaml") {
			t.Fatalf("error without position: %v", err)
		}
	})
}

func TestPublicURL(t *testing.T) {
	tests := []struct {
		name, yaml, env, want, err string
	}{
		{"unset", base, "", "", ""},
		{"from the file", "public_url: https://feeds.example.com/v1\n" + base, "", "https://feeds.example.com/v1", ""},
		{"env wins", "public_url: https://feeds.example.com/v1\n" + base, "http://127.0.0.1:8080/feeds", "http://127.0.0.1:8080/feeds", ""},
		{"env alone", base, "https://b.s3.amazonaws.com/feeds", "https://b.s3.amazonaws.com/feeds", ""},
		{"relative", "public_url: feeds/\n" + base, "", "", `f.yaml:1: public_url "feeds/": want an absolute http(s) URL`},
		{"other scheme", "public_url: s3://bucket/feeds\n" + base, "", "", `f.yaml:1: public_url "s3://bucket/feeds"`},
		{"query", "public_url: https://x.example/?a=1\n" + base, "", "", "without query"},
		{"bad env", base, "ftp://x", "", `$SQLFEED_PUBLIC_URL: public_url "ftp://x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SQLFEED_PUBLIC_URL", tt.env)
			f, err := Parse("f.yaml", []byte(tt.yaml), transform.Default)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.PublicURL != tt.want {
				t.Fatalf("PublicURL %q, want %q", f.PublicURL, tt.want)
			}
		})
	}
}
