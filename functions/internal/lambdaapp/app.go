// Package lambdaapp is the warm-container state of the export function: the
// settings caches, the database pool (one connection, reopened only when the
// DSN changes), the store and the metrics emitter. functions/export wires it
// from the environment and hands Handle to lambda.Start.
package lambdaapp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/lambdaevent"
	"github.com/sqlfeed/sqlfeed/infra/metrics"
	"github.com/sqlfeed/sqlfeed/infra/settings"
	"github.com/sqlfeed/sqlfeed/transform"
)

// App handles invocations of the export function.
type App struct {
	Config  *settings.Cache // the feeds config text
	DSN     *settings.Cache // the database DSN
	Store   blob.Store
	Metrics *metrics.Emitter
	Log     *slog.Logger
	// ScheduledFeeds are the feeds a classic Scheduled Event runs (SQLFEED_FEEDS); nil = all.
	ScheduledFeeds []string
	Now            func() time.Time // nil: time.Now
	// DBOptions is the pool of the database; the zero value is one connection.
	DBOptions db.Options
	// StateURL is the state prefix (s3://bucket/_sqlfeed-state, outside the
	// public prefix) where the pre-traffic test exports; PreTrafficFeed is the
	// feed it exports (default: the config's first).
	StateURL, PreTrafficFeed string
	// State is the store at StateURL: sharded feeds' plans and shard results.
	State blob.Store
	// FunctionVersion is the executing version (AWS_LAMBDA_FUNCTION_VERSION),
	// recorded by a plan; its shards and commit must run on the same one.
	FunctionVersion string

	mu       sync.Mutex // one invocation at a time per container
	cfgText  string
	cfg      *config.File
	dsn      string
	db       *db.DB
	lastGood map[string]time.Time
}

// ResponseError is the invocation error when a feed failed: its text is the
// standard response as JSON, so Lambda's retries, the failure destination and
// the Errors alarm see the whole outcome.
type ResponseError struct{ Response exporters.Response }

// Error returns the response JSON (the invocation's error text).
func (e *ResponseError) Error() string {
	b, err := json.Marshal(e.Response)
	if err != nil {
		return e.Response.Message
	}
	return string(b)
}

func (a *App) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Warm reads the settings and opens the database connection ahead of the
// first invocation (call it during init). A failure is logged and left for the
// first invocation to report.
func (a *App) Warm(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Log.Info("init", "config", a.Config.Source().String(), "database", a.DSN.Source().String())
	if _, err := a.config(ctx); err != nil {
		a.Log.Error("init: config", "error", err.Error())
		return
	}
	source, err := a.database(ctx)
	if err != nil {
		a.Log.Error("init: database", "error", err.Error())
		return
	}
	if err := source.Ping(ctx); err != nil {
		a.Log.Error("init: database", "error", err.Error())
	}
}

// Handle runs one invocation: parse the event, run the feeds, answer the
// standard response. It returns a *ResponseError when any feed failed.
func (a *App) Handle(ctx context.Context, payload json.RawMessage) (exporters.Response, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	req, err := lambdaevent.Parse(payload, a.ScheduledFeeds, a.now)
	if err != nil {
		a.Log.Error("bad request", "error", err.Error())
		return exporters.BadRequest(err), nil
	}
	if req.Kind == lambdaevent.KindPreTraffic {
		return a.preTraffic(ctx, req)
	}
	a.Log.Info("invocation", "kind", req.Kind, "feeds", req.Feeds, "scheduled_time", req.ScheduledTime, "event_id", req.ID)
	cfg, err := a.config(ctx)
	if err != nil {
		return a.fail(err)
	}
	for _, name := range req.Feeds {
		if cfg.Feed(name) == nil {
			err := &exporters.UnknownFeedError{Name: name}
			a.Log.Error("bad request", "error", err.Error())
			return exporters.BadRequest(err), nil
		}
	}
	source, err := a.database(ctx)
	if err != nil {
		return a.finish(ctx, failAll(cfg, req.Feeds, err))
	}
	r := &exporters.Runner{Config: cfg, DB: source, Store: a.Store, State: a.State, Log: a.Log, Now: a.Now}
	results, err := r.Run(ctx, exporters.Request{Feeds: req.Feeds, ScheduledTime: req.ScheduledTime})
	if exporters.IsBadRequest(err) {
		return exporters.BadRequest(err), nil
	}
	if err != nil {
		return a.fail(err)
	}
	return a.finish(ctx, results)
}

// fail answers an error that is not one feed's (e.g. an unreadable config).
func (a *App) fail(err error) (exporters.Response, error) {
	a.Log.Error("invocation failed", "error", err.Error())
	resp := exporters.Response{Status: exporters.ResponseError, Message: err.Error(), Data: exporters.ResponseData{Feeds: []exporters.Result{}}}
	return resp, &ResponseError{Response: resp}
}

// finish emits the metrics and builds the response.
func (a *App) finish(ctx context.Context, results []exporters.Result) (exporters.Response, error) {
	if a.lastGood == nil {
		a.lastGood = map[string]time.Time{}
	}
	for _, res := range results {
		m := metrics.Feed{Feed: res.Feed, Status: res.Status, Version: res.Version, Rows: res.Rows,
			Bytes: res.Bytes, DurationMS: res.DurationMS, Warnings: res.Warnings}
		// On every outcome, so the staleness alarm always has data.
		m.LastPublish = a.lastPublish(ctx, res.Feed)
		if a.Metrics != nil {
			if err := a.Metrics.Emit(m); err != nil {
				a.Log.Error("metrics", "error", err.Error())
			}
		}
	}
	resp := exporters.NewResponse(results)
	if resp.Status == exporters.ResponseError {
		return resp, &ResponseError{Response: resp}
	}
	return resp, nil
}

// lastPublish is when the feed was last confirmed: its manifest's checked_at
// (else generated_at), read from the store after the run; when the manifest
// cannot be read, the last time this container read one (zero when unknown).
func (a *App) lastPublish(ctx context.Context, feed string) time.Time {
	if a.Store == nil {
		return a.lastGood[feed]
	}
	b, _, err := blob.ReadAll(ctx, a.Store, feed+"/manifest.json")
	if err != nil {
		return a.lastGood[feed]
	}
	var m struct {
		GeneratedAt time.Time `json:"generated_at"`
		CheckedAt   time.Time `json:"checked_at"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return a.lastGood[feed]
	}
	t := m.CheckedAt
	if t.IsZero() {
		t = m.GeneratedAt
	}
	a.lastGood[feed] = t
	return t
}

// failAll reports every requested feed (all when none named) as failed with err.
func failAll(cfg *config.File, feeds []string, err error) []exporters.Result {
	if len(feeds) == 0 {
		for _, f := range cfg.Feeds {
			feeds = append(feeds, f.Name)
		}
	}
	out := make([]exporters.Result, 0, len(feeds))
	for _, f := range feeds {
		out = append(out, exporters.Result{Feed: f, Status: exporters.StatusError, Message: err.Error()})
	}
	return out
}

// config returns the parsed config, parsing again only when its text changed.
func (a *App) config(ctx context.Context) (*config.File, error) {
	text, err := a.Config.Get(ctx)
	if err != nil {
		return nil, err
	}
	if a.cfg != nil && text == a.cfgText {
		return a.cfg, nil
	}
	cfg, err := config.Parse(a.Config.Source().String(), []byte(text), transform.Default)
	if err != nil {
		return nil, err
	}
	if a.cfg != nil {
		a.Log.Info("config changed", "source", a.Config.Source().String(), "feeds", len(cfg.Feeds))
	}
	a.cfg, a.cfgText = cfg, text
	return cfg, nil
}

// database returns the pool, reopened only when the DSN changed (e.g. a
// rotated secret). Errors never contain the password.
func (a *App) database(ctx context.Context) (*db.DB, error) {
	dsn, err := a.DSN.Get(ctx)
	if err != nil {
		return nil, err
	}
	if a.db != nil && dsn == a.dsn {
		return a.db, nil
	}
	source, err := db.Open(ctx, dsn, a.DBOptions)
	if err != nil {
		return nil, err
	}
	if a.db != nil {
		a.Log.Info("database settings changed; reconnecting", "source", a.DSN.Source().String())
		if err := a.db.Close(); err != nil {
			a.Log.Warn("close old database", "error", err.Error())
		}
	}
	a.db, a.dsn = source, dsn
	return source, nil
}

// Close releases the database and the store.
func (a *App) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	if a.db != nil {
		errs = append(errs, a.db.Close())
	}
	if a.Store != nil {
		errs = append(errs, a.Store.Close())
	}
	if a.State != nil {
		errs = append(errs, a.State.Close())
	}
	return errors.Join(errs...)
}

// preTraffic is the deploy's self-test of this version (CONTRACT §7): every
// feed's query and mapping validated against the database, then one feed
// exported to a fresh folder of the state prefix. It publishes nothing and
// emits no metrics; the error is a *ResponseError when anything failed.
func (a *App) preTraffic(ctx context.Context, req lambdaevent.Request) (exporters.Response, error) {
	cfg, err := a.config(ctx)
	if err != nil {
		return a.fail(fmt.Errorf("pre-traffic test: %w", err))
	}
	if a.StateURL == "" {
		return a.fail(errors.New("pre-traffic test: no state prefix (SQLFEED_STATE)"))
	}
	feed := a.PreTrafficFeed
	if len(req.Feeds) > 0 {
		feed = req.Feeds[0]
	}
	if feed == "" && len(cfg.Feeds) > 0 {
		feed = cfg.Feeds[0].Name
	}
	if cfg.Feed(feed) == nil {
		return a.fail(fmt.Errorf("pre-traffic test: %w", &exporters.UnknownFeedError{Name: feed}))
	}
	source, err := a.database(ctx)
	if err != nil {
		return a.fail(fmt.Errorf("pre-traffic test: %w", err))
	}
	var problems []error
	for _, f := range cfg.Feeds {
		if err := exporters.ValidateFeed(ctx, source, f, nil); err != nil {
			problems = append(problems, fmt.Errorf("feed %q: %w", f.Name, err))
		}
	}
	if len(problems) > 0 {
		return a.fail(fmt.Errorf("pre-traffic test: %w", errors.Join(problems...)))
	}
	var id [4]byte
	rand.Read(id[:])
	to := strings.TrimRight(a.StateURL, "/") + "/pretraffic/" + a.now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(id[:])
	store, err := blob.Open(ctx, to)
	if err != nil {
		return a.fail(fmt.Errorf("pre-traffic test: %w", err))
	}
	defer store.Close()
	// A sharded feed keeps its plan and shard results in the same scratch folder.
	r := &exporters.Runner{Config: cfg, DB: source, Store: store, State: store, Log: a.Log, Now: a.Now}
	results, err := r.Run(ctx, exporters.Request{Feeds: []string{feed}})
	if err != nil {
		return a.fail(fmt.Errorf("pre-traffic test: %w", err))
	}
	resp := exporters.NewResponse(results)
	if resp.Status == exporters.ResponseError {
		a.Log.Error("pre-traffic test failed", "feed", feed, "to", to, "message", resp.Message)
		return resp, &ResponseError{Response: resp}
	}
	resp.Message = fmt.Sprintf("pre-traffic test passed: %d feeds validated against the database, feed %s exported to %s", len(cfg.Feeds), feed, to)
	a.Log.Info("pre-traffic test passed", "feeds", len(cfg.Feeds), "feed", feed, "to", to)
	return resp, nil
}
