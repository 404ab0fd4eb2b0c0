package lambdaapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	_ "github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	"github.com/sqlfeed/sqlfeed/infra/metrics"
	"github.com/sqlfeed/sqlfeed/infra/settings"
)

// source is a settable setting for the test.
type source struct{ v string }

func (s *source) Fetch(context.Context) (string, error) { return s.v, nil }
func (s *source) String() string                        { return "test" }

const cfgText = `version: 1
feeds:
  - name: genres
    schedule: rate(1 day)
    query: SELECT GenreId, Name FROM Genre ORDER BY GenreId
    fields: {id: GenreId, name: Name}
`

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newApp(t *testing.T) (*App, *source, *source, *clock, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	dbPath, _ := filepath.Abs("../../../testdata/chinook.db")
	cfg, dsn := &source{cfgText}, &source{"sqlite://" + dbPath}
	clk := &clock{time.Date(2026, 11, 22, 14, 0, 5, 0, time.UTC)}
	store, err := blob.Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var logs, metricsOut bytes.Buffer
	a := &App{
		Config: settings.NewCache(cfg, time.Minute, clk.now),
		DSN:    settings.NewCache(dsn, time.Minute, clk.now),
		Store:  store,
		Log:    slog.New(slog.NewJSONHandler(&logs, nil)),
		Now:    clk.now,
	}
	a.Metrics = newEmitter(&metricsOut, clk.now)
	t.Cleanup(func() { a.Close() })
	return a, cfg, dsn, clk, &logs, &metricsOut
}

func TestHandle(t *testing.T) {
	a, cfg, dsn, clk, logs, _ := newApp(t)
	ctx := context.Background()
	a.Warm(ctx)
	first := a.db
	if first == nil {
		t.Fatal("Warm opened no database")
	}
	resp, err := a.Handle(ctx, json.RawMessage(`{"feeds":["genres"],"scheduled_time":"2026-11-22T14:00:00Z"}`))
	if err != nil || resp.Status != "success" || resp.Data.Feeds[0].Version[:16] != "20261122T140000Z" {
		t.Fatalf("%+v %v", resp, err)
	}
	if resp, err := a.Handle(ctx, json.RawMessage(`{"feeds":["nope"]}`)); err != nil || resp.Status != "badRequest" {
		t.Fatalf("unknown feed: %+v %v", resp, err)
	}
	if resp, err := a.Handle(ctx, json.RawMessage(`[]`)); err != nil || resp.Status != "badRequest" {
		t.Fatalf("bad event: %+v %v", resp, err)
	}

	// A rotated DSN (same database here) reopens the pool once the cache period is over.
	dsn.v += "?x=1"
	if _, err := a.Handle(ctx, json.RawMessage(`{"feeds":["genres"]}`)); err != nil || a.db != first {
		t.Fatalf("reopened before the cache period: %v", err)
	}
	clk.t = clk.t.Add(time.Minute)
	if _, err := a.Handle(ctx, json.RawMessage(`{"feeds":["genres"]}`)); err != nil || a.db == first {
		t.Fatalf("not reopened after the cache period: %v", err)
	}

	// A broken config fails the invocation with the JSON response as the error text.
	cfg.v = "version: 1\nfeeds: [{name: Bad}]\n"
	clk.t = clk.t.Add(time.Minute)
	resp, err = a.Handle(ctx, json.RawMessage(`{"feeds":["genres"]}`))
	var re *ResponseError
	if !errors.As(err, &re) || resp.Status != "error" {
		t.Fatalf("broken config: %+v %v", resp, err)
	}
	var decoded exporters.Response
	if json.Unmarshal([]byte(err.Error()), &decoded) != nil || decoded.Status != "error" || !strings.Contains(decoded.Message, "test") {
		t.Fatalf("error text %q", err.Error())
	}
	if strings.Contains(logs.String(), "password") {
		t.Error("logs mention a password")
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx := context.Background()
	if _, err := FromEnv(ctx, getenv, os.Stdout, log); err == nil || !strings.Contains(err.Error(), "SQLFEED_DB") {
		t.Fatalf("no DSN: %v", err)
	}
	env["SQLFEED_DB"] = "sqlite://x.db"
	if _, err := FromEnv(ctx, getenv, os.Stdout, log); err == nil || !strings.Contains(err.Error(), "SQLFEED_TO") {
		t.Fatalf("no destination: %v", err)
	}
	env["SQLFEED_TO"] = "file://" + t.TempDir()
	env["SQLFEED_SETTINGS_TTL"] = "soon"
	if _, err := FromEnv(ctx, getenv, os.Stdout, log); err == nil || !strings.Contains(err.Error(), "SQLFEED_SETTINGS_TTL") {
		t.Fatalf("bad ttl: %v", err)
	}
	env["SQLFEED_SETTINGS_TTL"] = "30s"
	env["SQLFEED_FEEDS"] = "tracks, albums"
	env["LAMBDA_TASK_ROOT"] = "/var/task"
	a, err := FromEnv(ctx, getenv, os.Stdout, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got := a.Config.Source().String(); got != "/var/task/sqlfeed.yaml" {
		t.Errorf("config source %q", got)
	}
	if strings.Join(a.ScheduledFeeds, ",") != "tracks,albums" {
		t.Errorf("scheduled feeds %v", a.ScheduledFeeds)
	}
}

func newEmitter(w *bytes.Buffer, now func() time.Time) *metrics.Emitter {
	return &metrics.Emitter{W: w, Now: now}
}
