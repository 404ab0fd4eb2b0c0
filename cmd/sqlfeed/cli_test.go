package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sqlfeed/sqlfeed/exporters"
)

// sqlfeed runs the CLI in the repository root (where the defaults point) and
// returns its exit code and output.
func sqlfeed(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func inRepoRoot(t *testing.T) string {
	t.Chdir("../..")
	dir := t.TempDir()
	t.Setenv("SQLFEED_TO", "file://"+dir)
	return dir
}

// TestRunDefaults is the README's first command: the embedded demo with the
// default config and database, run twice.
func TestRunDefaults(t *testing.T) {
	dir := inRepoRoot(t)
	code, out, stderr := sqlfeed(t, "run")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	for _, feed := range []string{"tracks", "albums", "genres", "invoices-by-country", "artists"} {
		if !strings.Contains(out, feed) {
			t.Fatalf("summary lacks %s:\n%s", feed, out)
		}
		if _, err := os.Stat(filepath.Join(dir, feed, "latest.json")); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(stderr, `"msg":"export"`) || !strings.Contains(stderr, `"feed":"tracks"`) {
		t.Fatalf("want JSON logs with the feed on stderr, got:\n%s", stderr)
	}
	latest := filepath.Join(dir, "tracks", "latest.json")
	before, _ := os.Stat(latest)

	code, out, _ = sqlfeed(t, "run", "--json")
	if code != exitOK {
		t.Fatalf("second run exit %d", code)
	}
	var resp exporters.Response
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("--json output is not the standard response: %v\n%s", err, out)
	}
	if resp.Status != "success" || len(resp.Data.Feeds) != 6 || resp.Message != "6 unchanged" {
		t.Fatalf("response %+v", resp)
	}
	for _, f := range resp.Data.Feeds {
		if f.Status != exporters.StatusUnchanged {
			t.Fatalf("%s: %s", f.Feed, f.Status)
		}
	}
	after, _ := os.Stat(latest)
	if !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("unchanged run rewrote latest.json")
	}
	versions, _ := os.ReadDir(filepath.Join(dir, "tracks", "versions"))
	if len(versions) != 1 {
		t.Fatalf("versions: %v", versions)
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sqlfeed.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const oneFeed = `version: 1
feeds:
  - name: genres
    query: SELECT GenreId, Name FROM Genre ORDER BY GenreId
    fields: {id: GenreId, name: Name}
`

func TestExitCodesAndValidate(t *testing.T) {
	dir := inRepoRoot(t)
	missingColumn := writeConfig(t, strings.Replace(oneFeed, "name: Name}", "name: Nme}", 1))
	sqlError := writeConfig(t, strings.Replace(oneFeed, "FROM Genre", "FROM Genra", 1))
	tests := []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"no command", nil, exitUsage, "usage:"},
		{"unknown command", []string{"export"}, exitUsage, `unknown command "export"`},
		{"bad flag", []string{"run", "--nope"}, exitUsage, "flag provided but not defined"},
		{"unknown feed", []string{"run", "nope"}, exitUsage, `unknown feed "nope"`},
		{"unknown key", []string{"validate", "--config", writeConfig(t, oneFeed+"    colour: red\n")}, exitUsage, `sqlfeed.yaml:6: unknown key "colour" in a feed`},
		{"unknown mapper", []string{"validate", "--config", writeConfig(t, oneFeed+"    mapper: magic\n")}, exitUsage, `mapper "magic" is not registered`},
		{"duplicate feed", []string{"validate", "--config", writeConfig(t, oneFeed+"  - {name: genres, query: SELECT 1, mapper: raw}\n")}, exitUsage, `duplicate feed name "genres"`},
		{"validate without db", []string{"validate", "--config", missingColumn}, exitOK, "queries not checked"},
		{"validate missing column", []string{"validate", "--config", missingColumn, "--db", "sqlite://testdata/chinook.db"}, exitUsage, `sqlfeed.yaml:5: field "name" names column "Nme"`},
		{"validate sql error", []string{"validate", "--config", sqlError, "--db", "sqlite://testdata/chinook.db"}, exitUsage, "no such table: Genra"},
		{"validate sample", []string{"validate", "--db", "sqlite://testdata/chinook.db"}, exitOK, "6 feeds ok"},
		{"run missing column", []string{"run", "--config", missingColumn}, exitFailed, `names column "Nme"`},
		{"missing database", []string{"run", "--db", "sqlite://nowhere.db"}, exitFailed, "nowhere.db"},
		{"bad destination", []string{"run", "--to", "ftp://x"}, exitUsage, "unsupported scheme"},
		{"list", []string{"list"}, exitOK, "invoices-by-country  cron(15 2 * * ? *)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := sqlfeed(t, tt.args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.want) {
				t.Fatalf("exit %d (want %d), output:\n%s%s\nwant it to contain %q", code, tt.code, out, errOut, tt.want)
			}
		})
	}
	// Nothing above published anything: the only writer was "run", and it failed.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != ".sqlfeed" {
			t.Fatalf("failed commands wrote %s", e.Name())
		}
	}
}
