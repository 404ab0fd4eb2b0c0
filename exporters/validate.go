package exporters

import (
	"context"
	"fmt"

	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/transform"
)

// ValidateFeed prepares the feed's query on the server (no rows are read) and
// binds its mapper to the columns, as `sqlfeed validate --db` and the
// pre-traffic test do. reg nil means transform.Default.
func ValidateFeed(ctx context.Context, source *db.DB, f *config.Feed, reg *transform.Registry) error {
	if reg == nil {
		reg = transform.Default
	}
	cols, err := source.Describe(ctx, feedQuery(f, source.Engine()))
	if err != nil {
		return fmt.Errorf("%s: %w", f.Pos, err)
	}
	m, err := reg.New(f.Mapper, f.Spec())
	if err != nil {
		return fmt.Errorf("%s: %w", f.Pos, err)
	}
	schema, err := transform.Bind(m, cols, transform.NewEnv(f.Location))
	if err != nil || f.Pages == nil {
		return err
	}
	if _, err = PageKeyField(f, cols, schema); err != nil || f.Shards == 0 {
		return err
	}
	return validateShards(ctx, source, f)
}

// validateShards checks what a sharded feed adds: a group feed writes its
// range with :lo/:hi, and plan_query returns two columns.
func validateShards(ctx context.Context, source *db.DB, f *config.Feed) error {
	if f.Group != nil && !db.HasRangePlaceholders(source.Engine(), f.QueryFor(source.Engine())) {
		return fmt.Errorf("%s: feed %q: a sharded group feed writes its range with :lo and :hi (the wrapping ORDER BY would lose the items' order)", f.Pos, f.Name)
	}
	if f.PlanQuery == "" {
		return nil
	}
	cols, err := source.Describe(ctx, f.PlanQuery)
	if err != nil {
		return fmt.Errorf("%s: plan_query: %w", f.Pos, err)
	}
	if len(cols) != 2 {
		return fmt.Errorf("%s: plan_query returns %d columns; want 2 (lowest, highest pages.by)", f.Pos, len(cols))
	}
	return nil
}
