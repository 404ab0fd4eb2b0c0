package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/infra/lambdatest"
)

// End-to-end tests: the real bootstrap (built with the production flags for
// this machine) runs under the Runtime API harness and is invoked with the
// events of testdata/events.

var (
	buildOnce sync.Once
	built     string
)

// function builds bootstrap once and lays out a task root like the Lambda
// package: bootstrap and sqlfeed.yaml side by side.
func function(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sqlfeed-export-")
		if err != nil {
			t.Fatal(err)
		}
		bin := lambdatest.Build(t, "github.com/sqlfeed/sqlfeed/functions/export")
		if err := os.Rename(bin, filepath.Join(dir, "bootstrap")); err != nil {
			t.Fatal(err)
		}
		cfg, err := os.ReadFile("../../sqlfeed.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sqlfeed.yaml"), cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		built = filepath.Join(dir, "bootstrap")
	})
	if built == "" {
		t.Fatal("build failed earlier")
	}
	return built
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built != "" {
		os.RemoveAll(filepath.Dir(built))
	}
	os.Exit(code)
}

func chinookDSN(t *testing.T) string {
	p, err := filepath.Abs("../../testdata/chinook.db")
	if err != nil {
		t.Fatal(err)
	}
	return "sqlite://" + p
}

func event(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testdata/events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// start runs the function with env and waits for the end of its init.
func start(t *testing.T, env ...string) *lambdatest.Runtime {
	t.Helper()
	rt := lambdatest.Start(t, function(t), lambdatest.Options{Env: env})
	if _, err := rt.WaitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	return rt
}

// invoke sends payload and decodes the standard response, from the response
// body or, for a failed invocation, from the error text.
func invoke(t *testing.T, rt *lambdatest.Runtime, payload []byte) (exporters.Response, bool) {
	t.Helper()
	res, err := rt.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	body := res.Response
	if res.Error != nil {
		body = []byte(res.Error.ErrorMessage)
	}
	var resp exporters.Response
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("answer is not the standard response: %v\n%s\nstderr:\n%s", err, body, rt.Stderr())
	}
	return resp, res.Error != nil
}

// files lists the files under dir, relative, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func versions(t *testing.T, dir, feed string) []string {
	t.Helper()
	es, _ := os.ReadDir(filepath.Join(dir, feed, "versions"))
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func statuses(r exporters.Response) map[string]string {
	m := map[string]string{}
	for _, f := range r.Data.Feeds {
		m[f.Feed] = f.Status
	}
	return m
}

// emf returns the EMF metric lines the function printed.
func emf(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["_aws"] != nil {
			out = append(out, m)
		}
	}
	return out
}

// Acceptance 1 and 2: each event gives the expected response; a duplicate
// scheduled event publishes once; the bad event publishes nothing.
func TestEventsEndToEnd(t *testing.T) {
	pub := t.TempDir()
	rt := start(t, "SQLFEED_DB="+chinookDSN(t), "SQLFEED_TO=file://"+pub, "SQLFEED_FEEDS=tracks,genres")

	resp, failed := invoke(t, rt, event(t, "scheduled-event.json"))
	if failed || resp.Status != "success" {
		t.Fatalf("scheduled event: failed=%v %+v\n%s", failed, resp, rt.Stderr())
	}
	if got := statuses(resp); got["tracks"] != "success" || got["genres"] != "success" || len(got) != 2 {
		t.Fatalf("scheduled event statuses %v", got)
	}
	for _, f := range resp.Data.Feeds {
		if !strings.HasPrefix(f.Version, "20261122T140000Z-") || f.Rows == 0 || f.Bytes == 0 || len(f.SHA256) != 64 {
			t.Errorf("feed %+v: version not named by the event time, or empty", f)
		}
		if _, err := os.Stat(filepath.Join(pub, f.Feed, "latest.json")); err != nil {
			t.Error(err)
		}
	}
	latest, _ := os.ReadFile(filepath.Join(pub, "tracks", "latest.json"))

	// The same event again (EventBridge delivers at least once): nothing new.
	resp, failed = invoke(t, rt, event(t, "scheduled-event.json"))
	if failed || resp.Status != "skipped" {
		t.Fatalf("duplicate: %+v", resp)
	}
	if got := statuses(resp); got["tracks"] != "skipped" || got["genres"] != "skipped" {
		t.Fatalf("duplicate statuses %v", got)
	}
	for _, feed := range []string{"tracks", "genres"} {
		if v := versions(t, pub, feed); len(v) != 1 {
			t.Errorf("%s: %d versions after a duplicate event: %v", feed, len(v), v)
		}
	}

	// Scheduler input: tracks (same scheduled time: skipped) and albums.
	resp, failed = invoke(t, rt, event(t, "scheduler-input.json"))
	if failed || resp.Status != "success" {
		t.Fatalf("scheduler input: %+v", resp)
	}
	if got := statuses(resp); got["tracks"] != "skipped" || got["albums"] != "success" || len(got) != 2 {
		t.Fatalf("scheduler input statuses %v", got)
	}
	if b, _ := os.ReadFile(filepath.Join(pub, "tracks", "latest.json")); string(b) != string(latest) {
		t.Error("tracks/latest.json changed although the content did not")
	}

	// The bad event: badRequest, nothing written.
	before := files(t, pub)
	resp, failed = invoke(t, rt, event(t, "bad-event.json"))
	if failed || resp.Status != "badRequest" || len(resp.Data.Feeds) != 0 || resp.Message == "" {
		t.Fatalf("bad event: failed=%v %+v", failed, resp)
	}
	if after := files(t, pub); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("bad event changed the store:\nbefore %v\nafter  %v", before, after)
	}
	// An unknown feed is a bad request too.
	if resp, _ := invoke(t, rt, []byte(`{"feeds":["nope"],"scheduled_time":"2026-11-22T15:00:00Z"}`)); resp.Status != "badRequest" {
		t.Errorf("unknown feed: %+v", resp)
	}

	// One EMF line per feed run, with the outcome counts.
	lines := emf(t, rt.Stdout())
	if len(lines) != 6 {
		t.Fatalf("%d EMF lines, want 6:\n%s", len(lines), rt.Stdout())
	}
	// SecondsSinceLastPublish is measured once every feed of the invocation
	// ran (the metrics are emitted at the end), so a second may have passed.
	if l := lines[0]; l["Feed"] != "tracks" || l["Published"] != 1.0 || l["Rows"].(float64) < 1000 || l["SecondsSinceLastPublish"].(float64) > 1 {
		t.Errorf("first EMF line %v", l)
	}
	if l := lines[2]; l["Skipped"] != 1.0 || l["Published"] != 0.0 {
		t.Errorf("duplicate EMF line %v", l)
	}
}

// Acceptance 2: a database failure fails the invocation with the JSON
// response as the error text, and the previous version stays served.
func TestDatabaseDownFailsInvocation(t *testing.T) {
	pub := t.TempDir()
	rt := start(t, "SQLFEED_DB="+chinookDSN(t), "SQLFEED_TO=file://"+pub)
	if resp, failed := invoke(t, rt, []byte(`{"feeds":["genres"],"scheduled_time":"2026-11-22T14:00:00Z"}`)); failed || resp.Status != "success" {
		t.Fatalf("first run: %+v", resp)
	}
	latest, _ := os.ReadFile(filepath.Join(pub, "genres", "latest.json"))
	manifest, _ := os.ReadFile(filepath.Join(pub, "genres", "manifest.json"))
	rt.Stop()

	gone := filepath.Join(t.TempDir(), "gone.db")
	rt = start(t, "SQLFEED_DB=sqlite://"+gone, "SQLFEED_TO=file://"+pub)
	res, err := rt.Invoke(context.Background(), []byte(`{"feeds":["genres"],"scheduled_time":"2026-11-22T15:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Error == nil {
		t.Fatalf("invocation succeeded: %s", res.Response)
	}
	var resp exporters.Response
	if err := json.Unmarshal([]byte(res.Error.ErrorMessage), &resp); err != nil {
		t.Fatalf("error text is not the JSON response: %q", res.Error.ErrorMessage)
	}
	if resp.Status != "error" || len(resp.Data.Feeds) != 1 || resp.Data.Feeds[0].Status != "error" || resp.Data.Feeds[0].Message == "" {
		t.Fatalf("error response %+v", resp)
	}
	if b, _ := os.ReadFile(filepath.Join(pub, "genres", "latest.json")); string(b) != string(latest) {
		t.Error("latest.json changed by a failed run")
	}
	if b, _ := os.ReadFile(filepath.Join(pub, "genres", "manifest.json")); string(b) != string(manifest) {
		t.Error("manifest.json changed by a failed run")
	}
	lines := emf(t, rt.Stdout())
	if len(lines) != 1 || lines[0]["Failed"] != 1.0 {
		t.Fatalf("EMF after failure: %v", lines)
	}
	if _, ok := lines[0]["SecondsSinceLastPublish"].(float64); !ok {
		t.Errorf("failed run reports no age of the served version: %v", lines[0])
	}
}

// Acceptance 3 (SQLite form): ten invocations in one warm process use one
// database connection — the process holds the database file open once.
func TestWarmInvocationsShareOneConnection(t *testing.T) {
	pub := t.TempDir()
	dbPath, _ := filepath.Abs("../../testdata/chinook.db")
	rt := start(t, "SQLFEED_DB=sqlite://"+dbPath, "SQLFEED_TO=file://"+pub)
	for i := 0; i < 10; i++ {
		ev := []byte(`{"feeds":["genres"],"scheduled_time":"2026-11-22T1` + string(rune('0'+i)) + `:00:00Z"}`)
		if resp, failed := invoke(t, rt, ev); failed || resp.Status != "success" {
			t.Fatalf("invocation %d: %+v", i, resp)
		}
	}
	n := openFiles(t, rt.PID(), dbPath)
	if n != 1 {
		t.Fatalf("the warm process has %d handles on the database, want 1", n)
	}
}

// openFiles counts the process's open descriptors on path (Linux /proc).
func openFiles(t *testing.T, pid int, path string) int {
	t.Helper()
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	n := 0
	for _, fd := range fds {
		if p, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd.Name())); err == nil && p == path {
			n++
		}
	}
	return n
}

// Acceptance 5: init time (process start → first /next), median of 10.
func TestInitTime(t *testing.T) {
	pub := t.TempDir()
	bin := function(t)
	var ds []time.Duration
	for i := 0; i < 10; i++ {
		rt := lambdatest.Start(t, bin, lambdatest.Options{Env: []string{"SQLFEED_DB=" + chinookDSN(t), "SQLFEED_TO=file://" + pub}})
		d, err := rt.WaitReady(30 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
		rt.Stop()
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	med := (ds[4] + ds[5]) / 2
	t.Logf("bootstrap init time (start → first /next), 10 runs: min %v, median %v, max %v", ds[0], med, ds[9])
	if med > 500*time.Millisecond {
		t.Errorf("median init %v is far over the 100 ms target", med)
	}
}

// TestHostileFutureScheduledTime (issue 12, item 11): a direct invocation
// with a scheduled time far in the future is a bad request that publishes
// nothing, instead of a version every later run would skip against.
func TestHostileFutureScheduledTime(t *testing.T) {
	pub := t.TempDir()
	rt := start(t, "SQLFEED_DB="+chinookDSN(t), "SQLFEED_TO=file://"+pub)
	resp, failed := invoke(t, rt, []byte(`{"feeds":["genres"],"scheduled_time":"2999-01-01T00:00:00Z"}`))
	if failed || resp.Status != "badRequest" || !strings.Contains(resp.Message, "more than 5 minutes in the future") {
		t.Fatalf("future scheduled_time: failed=%v %+v", failed, resp)
	}
	if got := files(t, pub); len(got) != 0 {
		t.Fatalf("a refused event wrote %v", got)
	}
	if resp, failed := invoke(t, rt, []byte(`{"feeds":["genres"]}`)); failed || resp.Status != "success" {
		t.Fatalf("a manual run after it: %+v", resp)
	}
}
