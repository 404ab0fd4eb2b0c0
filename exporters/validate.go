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
	_, err = PageKeyField(f, cols, schema)
	return err
}
