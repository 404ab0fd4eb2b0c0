package lambdaapp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/lambdaevent"
	"github.com/sqlfeed/sqlfeed/infra/metrics"
	"github.com/sqlfeed/sqlfeed/infra/settings"
)

// FromEnv builds the App from the function's environment:
//
//	SQLFEED_CONFIG        sqlfeed.yaml bundled in the package (default), a path, or ssm:/param/name
//	SQLFEED_DB            the DSN, or secretsmanager://SECRET-ID[?engine=…&host=…&dbname=…]
//	SQLFEED_TO            s3://bucket/prefix (or file://DIR)
//	SQLFEED_FEEDS         feeds a Scheduled Event runs, comma separated (default all)
//	SQLFEED_SETTINGS_TTL  how long settings are cached (Go duration, default 5m)
//	SQLFEED_STATE         the state prefix, s3://bucket/_sqlfeed-state (sharded runs' plans and shard results; the pre-traffic test exports there)
//	AWS_LAMBDA_FUNCTION_VERSION the executing version, which a plan records (set by Lambda)
//	SQLFEED_PRETRAFFIC_FEED the feed the pre-traffic test exports (default the first)
//
// EMF metric lines go to stdout; logs go to log.
func FromEnv(ctx context.Context, getenv func(string) string, stdout io.Writer, log *slog.Logger) (*App, error) {
	ttl := settings.DefaultTTL
	if v := getenv("SQLFEED_SETTINGS_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("SQLFEED_SETTINGS_TTL=%q: want a positive duration such as 5m", v)
		}
		ttl = d
	}
	feeds, err := lambdaevent.FeedsFromEnv(getenv("SQLFEED_FEEDS"))
	if err != nil {
		return nil, err
	}
	cfgRef := getenv("SQLFEED_CONFIG")
	if cfgRef == "" {
		cfgRef = "sqlfeed.yaml"
		if root := getenv("LAMBDA_TASK_ROOT"); root != "" {
			cfgRef = filepath.Join(root, "sqlfeed.yaml")
		}
	}
	clients := &settings.Clients{}
	dsnSrc, err := settings.DSN(getenv("SQLFEED_DB"), clients)
	if err != nil {
		return nil, err
	}
	to := getenv("SQLFEED_TO")
	if to == "" {
		return nil, fmt.Errorf("no destination: set SQLFEED_TO to s3://bucket/prefix")
	}
	store, err := blob.Open(ctx, to)
	if err != nil {
		return nil, err
	}
	var state blob.Store
	if u := getenv("SQLFEED_STATE"); u != "" {
		if state, err = blob.Open(ctx, u); err != nil {
			store.Close()
			return nil, fmt.Errorf("SQLFEED_STATE: %w", err)
		}
	}
	stale := func(src settings.Source, err error) {
		log.Warn("settings: re-read failed; using the cached value", "source", src.String(), "error", err.Error())
	}
	cfgCache := settings.NewCache(settings.Config(cfgRef, clients), ttl, nil)
	cfgCache.OnStale = stale
	dsnCache := settings.NewCache(dsnSrc, ttl, nil)
	dsnCache.OnStale = stale
	return &App{
		Config:          cfgCache,
		DSN:             dsnCache,
		Store:           store,
		Metrics:         &metrics.Emitter{W: stdout},
		Log:             log,
		ScheduledFeeds:  feeds,
		StateURL:        getenv("SQLFEED_STATE"),
		State:           state,
		FunctionVersion: getenv("AWS_LAMBDA_FUNCTION_VERSION"),
		PreTrafficFeed:  getenv("SQLFEED_PRETRAFFIC_FEED"),
	}, nil
}
