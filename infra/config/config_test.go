package config

import (
	"strings"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/transform"
	_ "github.com/sqlfeed/sqlfeed/transform/artistcard"
)

func TestLoadSample(t *testing.T) {
	f, err := Load("../../sqlfeed.yaml", transform.Default)
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
		{"unset variable", strings.Replace(base, "SELECT 1", "SELECT ${SQLFEED_TEST_UNSET}", 1), "f.yaml:4: query: ${SQLFEED_TEST_UNSET} is not set"},
		{"yaml syntax", "version: 1\nfeeds: [\n", "f.yaml:"},
		{"raw with fields", strings.Replace(base, "    fields:", "    mapper: raw\n    fields:", 1), "takes no fields"},
		{"duplicate key", base + "    query: again\n", `key "query" given twice`},
		{"bad engine", base + "    queries: {oracle: x}\n", `unknown engine "oracle"`},
		{"negative min_rows", base + "    min_rows: -1\n", `f.yaml:6: min_rows: want 0 or more, got -1`},
		{"min_rows not a number", base + "    min_rows: some\n", `f.yaml:6: min_rows: want a whole number, got "some"`},
		{"max_shrink zero", base + "    max_shrink: 0\n", `f.yaml:6: max_shrink: want a share above 0 and at most 1 (e.g. 0.5), got "0"`},
		{"max_shrink above 1", base + "    max_shrink: 1.5\n", `f.yaml:6: max_shrink: want a share above 0`},
		{"max_shrink NaN", base + "    max_shrink: NaN\n", `f.yaml:6: max_shrink: want a share above 0`},
		{"max_shrink percent", "version: 1\ndefaults: {max_shrink: 50%}\n" + strings.TrimPrefix(base, "version: 1\n"), `f.yaml:2: max_shrink: want a share above 0`},
		{"pages without by", base + "    pages: {rows: 10}\n", `f.yaml:6: pages: by is required`},
		{"pages zero rows", base + "    pages: {by: x, rows: 0}\n", `f.yaml:6: pages.rows must be at least 1, got 0`},
		{"pages tiny max_bytes", base + "    pages:\n      by: x\n      max_bytes: 10\n", `f.yaml:8: pages.max_bytes must be at least 1024`},
		{"pages bad grace", base + "    pages: {by: x, grace: 1 day}\n", `f.yaml:6: pages.grace: want a positive duration`},
		{"pages negative grace", base + "    pages: {by: x, grace: -1h}\n", `pages.grace: want a positive duration`},
		{"pages unknown key", base + "    pages: {by: x, size: 3}\n", `f.yaml:6: unknown key "size" in pages`},
		{"shards unpaged", base + "    shards: 4\n", `f.yaml:3: feed "a": shards and plan_query need pages`},
		{"shards zero", base + "    pages: {by: x}\n    shards: 0\n", `f.yaml:7: shards must be at least 1, got 0`},
		{"plan_query unsharded", base + "    pages: {by: x}\n    plan_query: SELECT 1, 2\n", `plan_query without shards`},
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

// TestShards: a paged feed takes shards and plan_query.
func TestShards(t *testing.T) {
	f, err := Parse("f.yaml", []byte(base+"    pages: {by: x}\n    shards: 8\n    plan_query: SELECT MIN(x), MAX(x) FROM t\n"), transform.Default)
	if err != nil {
		t.Fatal(err)
	}
	if g := f.Feeds[0]; g.Shards != 8 || g.PlanQuery != "SELECT MIN(x), MAX(x) FROM t" {
		t.Fatalf("shards %d, plan_query %q", g.Shards, g.PlanQuery)
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

// TestRowGuards: min_rows defaults to 1, defaults apply to every feed, a
// feed's own value wins.
func TestRowGuards(t *testing.T) {
	text := "version: 1\ndefaults: {min_rows: 0, max_shrink: 0.25}\nfeeds:\n" +
		"  - {name: a, query: q, mapper: raw}\n  - {name: b, query: q, mapper: raw, min_rows: 10, max_shrink: 1}\n"
	f, err := Parse("f.yaml", []byte(text), transform.Default)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := f.Feeds[0], f.Feeds[1]; a.MinRows != 0 || a.MaxShrink != 0.25 || b.MinRows != 10 || b.MaxShrink != 1 {
		t.Fatalf("a %d %v, b %d %v", a.MinRows, a.MaxShrink, b.MinRows, b.MaxShrink)
	}
	f, err = Parse("f.yaml", []byte(base), transform.Default)
	if err != nil || f.Feeds[0].MinRows != 1 || f.Feeds[0].MaxShrink != 0 {
		t.Fatalf("defaults: %+v %v", f.Feeds[0], err)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"SET": "tracks", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	text := "version: 1\nfeeds:\n  - name: ${SET}\n    description: ${UNSET:-def} ${SET:-x} [${EMPTY:-x}] ${UNSET:-}.\n    query: q\n    mapper: raw\n"
	f, err := parse("f", []byte(text), transform.Default, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Feeds[0].Name + "|" + f.Feeds[0].Description; got != "tracks|def tracks [] ." {
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

// FuzzExpand: whatever text a variable holds, it lands in the values that
// name it and nowhere else (never a key or a feed), and any config parses to
// the same feeds whatever the variables hold, or fails with a position.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"x", "", "x\n  - name: evil\n    query: SELECT * FROM Employee\n    mapper: raw\n",
		"${SQLFEED_FUZZ}", "a: b", "'\"", "# comment", "}{", "\u2028", "0x1F", "true", "~", "*anchor"} {
		f.Add(s, []byte(base))
	}
	f.Add("1", []byte(strings.Replace(base, "    query:", "    keep_versions: ${V}\n    description: ${V}\n    query:", 1)))
	f.Add("1", []byte("version: 1\nfeeds:\n  - &f {name: a, query: \"${V}\", mapper: raw}\n  - {name: b, query: *f, mapper: raw}\n"))
	template := "version: 1 # ${UNSET}\nfeeds:\n  - name: a\n    description: ${V}\n" +
		"    query: |\n      SELECT ${V}\n    mapper: raw\n    options:\n      title: '${V}'\n      n: ${V}\n"
	f.Fuzz(func(t *testing.T, value string, text []byte) {
		lookup := func(string) (string, bool) { return value, true }
		cfg, err := parse("f.yaml", []byte(template), transform.Default, lookup)
		if err != nil {
			t.Fatalf("value %q: %v", value, err)
		}
		if a := cfg.Feeds[0]; len(cfg.Feeds) != 1 || a.Name != "a" || a.Description != value || a.Query != "SELECT "+value+"\n" ||
			a.Options["title"] != value || len(a.Options) != 2 || a.Mapper != "raw" {
			t.Fatalf("value %q: %d feeds, first %+v", value, len(cfg.Feeds), a)
		}

		got, err := parse("f.yaml", text, transform.Default, lookup)
		if err != nil {
			if !strings.Contains(err.Error(), "f.yaml") {
				t.Fatalf("error without position: %v", err)
			}
			return
		}
		plain, err := parse("f.yaml", text, transform.Default, func(string) (string, bool) { return "1", true })
		if err == nil && len(plain.Feeds) != len(got.Feeds) {
			t.Fatalf("value %q changed the number of feeds: %d, %d", value, len(got.Feeds), len(plain.Feeds))
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

// TestHostileEnvExpansion (issue 12, item 9): variables expand inside scalar
// values after parsing, so a value cannot add keys or feeds; comments and
// keys are not expanded; typed keys convert after expansion with errors
// naming file, line and key.
func TestHostileEnvExpansion(t *testing.T) {
	evil := "x\n  - name: evil\n    query: SELECT * FROM Employee\n    mapper: raw\n"
	t.Setenv("SQLFEED_TEST_DESC", evil)
	t.Run("value with a newline", func(t *testing.T) {
		cfg, err := Parse("f.yaml", []byte(strings.Replace(base, "    query:", "    description: ${SQLFEED_TEST_DESC}\n    query:", 1)), transform.Default)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Feeds) != 1 || cfg.Feeds[0].Name != "a" || cfg.Feeds[0].Description != evil || cfg.Feeds[0].Mapper != "fields" {
			t.Fatalf("a value changed the config's structure: %d feeds, first %+v", len(cfg.Feeds), cfg.Feeds[0])
		}
	})

	t.Setenv("SQLFEED_TEST_N", "abc")
	t.Setenv("SQLFEED_TEST_TWO", "2")
	t.Setenv("SQLFEED_TEST_TABLE", "Genre")
	t.Setenv("SQLFEED_TEST_REF", "${SQLFEED_TEST_UNSET}")
	tests := []struct {
		name, yaml, err string
		check           func(*File) bool
	}{
		{"unset variable in a comment", "# uses ${SQLFEED_TEST_UNSET}\n" + strings.Replace(base, "SELECT 1 AS x", "SELECT 1 AS x  # not ${SQLFEED_TEST_UNSET} either", 1), "",
			func(f *File) bool { return f.Feeds[0].Query == "SELECT 1 AS x" }},
		{"typed key not a number", base + "    keep_versions: ${SQLFEED_TEST_N}\n", `f.yaml:6: keep_versions: want a whole number, got "abc"`, nil},
		{"typed key from the environment", base + "    keep_versions: ${SQLFEED_TEST_TWO}\n", "",
			func(f *File) bool { return f.Feeds[0].KeepVersions == 2 }},
		{"typed default", "version: 1\ndefaults: {keep_versions: \"${SQLFEED_TEST_N}\"}\n" + strings.TrimPrefix(base, "version: 1\n"), `f.yaml:2: keep_versions: want a whole number, got "abc"`, nil},
		{"bool after expansion", strings.Replace(base, "{x: x}", "{x: {column: x, omit_null: \"${SQLFEED_TEST_N}\"}}", 1), `f.yaml:5: omit_null: want true or false, got "abc"`, nil},
		{"key not expanded", base + "    ${SQLFEED_TEST_N}: 1\n", `f.yaml:6: unknown key "${SQLFEED_TEST_N}" in a feed`, nil},
		{"unset variable names line and key", base + "    description: ${SQLFEED_TEST_UNSET}\n", "f.yaml:6: description: ${SQLFEED_TEST_UNSET} is not set and has no default", nil},
		{"line inside a block", strings.Replace(base, "    query: SELECT 1 AS x\n", "    query: |\n      SELECT 1 AS x\n      FROM ${SQLFEED_TEST_UNSET}\n", 1), "f.yaml:6: query: ${SQLFEED_TEST_UNSET} is not set", nil},
		{"block value", strings.Replace(base, "    query: SELECT 1 AS x\n", "    query: |\n      SELECT 1 AS x\n      FROM ${SQLFEED_TEST_TABLE}\n", 1), "",
			func(f *File) bool { return f.Feeds[0].Query == "SELECT 1 AS x\nFROM Genre\n" }},
		{"expanded text not expanded again", strings.Replace(base, "SELECT 1 AS x", "SELECT '${SQLFEED_TEST_REF}' AS x", 1), "",
			func(f *File) bool { return f.Feeds[0].Query == "SELECT '${SQLFEED_TEST_UNSET}' AS x" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("f.yaml", []byte(tt.yaml), transform.Default)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v\nwant it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(f) {
				t.Fatalf("parsed %+v", f.Feeds[0])
			}
		})
	}
}
