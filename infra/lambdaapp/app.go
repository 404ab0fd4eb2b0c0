// Package lambdaapp is the warm-container state of the export function: the
// settings caches, the database pool (one connection, reopened only when the
// DSN changes), the store and the metrics emitter. functions/export wires it
// from the environment and hands Handle to lambda.Start.
package lambdaapp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
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
	r := &exporters.Runner{Config: cfg, DB: source, Store: a.Store, Log: a.Log, Now: a.Now}
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
		switch res.Status {
		case exporters.StatusSuccess, exporters.StatusUnchanged:
			a.lastGood[res.Feed] = a.now()
		case exporters.StatusError:
			m.LastSuccess = a.lastSuccess(ctx, res.Feed)
		}
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

// lastSuccess is when the feed last ran successfully: seen by this container,
// else when its manifest was last written (zero when unknown).
func (a *App) lastSuccess(ctx context.Context, feed string) time.Time {
	if t, ok := a.lastGood[feed]; ok {
		return t
	}
	if a.Store == nil {
		return time.Time{}
	}
	at, err := a.Store.Head(ctx, feed+"/manifest.json")
	if err != nil {
		return time.Time{}
	}
	return at.ModTime
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
	return errors.Join(errs...)
}
