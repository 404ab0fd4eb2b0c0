package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sqlfeed/sqlfeed/row"
)

func init() {
	dialects["postgres"] = &dialect{
		open:      postgresOpen,
		begin:     postgresBegin,
		end:       "ROLLBACK",
		column:    postgresColumn,
		normalize: postgresNormalize,
		transient: postgresTransient,
	}
}

// postgresOpen opens a pgx pool through database/sql from a postgres:// URL
// (its query parameters are libpq's: sslmode, connect_timeout, ...).
func postgresOpen(d DSN) (*sql.DB, string, error) {
	u := *d.URL
	u.Scheme = "postgres"
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, "", err
	}
	if cfg.DefaultQueryExecMode == pgx.QueryExecModeSimpleProtocol {
		// The simple protocol runs every statement of a query string.
		return nil, "", errors.New("default_query_exec_mode=simple_protocol is refused: a feed's query is one statement (extended protocol only); remove the parameter")
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "sqlfeed"
	}
	return stdlib.OpenDB(*cfg), "pgx", nil
}

// postgresBegin starts a REPEATABLE READ READ ONLY transaction (one snapshot
// for the whole query) and sets its statement timeout, in one round trip.
func postgresBegin(ctx context.Context, _ *DB, conn *sql.Conn, timeout time.Duration) error {
	q := "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	if timeout > 0 {
		q += fmt.Sprintf("; SET LOCAL statement_timeout = %d", max(timeout.Milliseconds(), 1))
	}
	_, err := conn.ExecContext(ctx, q)
	return err
}

// postgresColumn maps a Postgres type (pgx's name for the OID) to a Kind.
// Arrays of known element types publish as JSON arrays; types pgx does not know
// (user enums, domains, ...) publish as their text.
func postgresColumn(ct *sql.ColumnType) row.Column {
	t := ct.DatabaseTypeName()
	c := row.Column{Name: ct.Name(), DBType: t, Nullable: true}
	if n, ok := ct.Nullable(); ok {
		c.Nullable = n
	}
	if elem, ok := strings.CutPrefix(t, "_"); ok {
		c.Kind = row.KindArray
		c.Elem = postgresKind(elem)
		c.Zoned = elem == "TIMESTAMPTZ" || elem == "TIMETZ"
		if c.Elem == row.KindAny {
			c.Elem = row.KindString
		}
		return c
	}
	c.Kind = postgresKind(t)
	c.Zoned = t == "TIMESTAMPTZ" || t == "TIMETZ"
	c.ValidJSON = c.Kind == row.KindJSON // json/jsonb: checked by the server
	return c
}

func postgresKind(t string) row.Kind {
	switch t {
	case "INT2", "INT4", "INT8", "OID", "XID", "CID":
		return row.KindInt
	case "NUMERIC":
		return row.KindDecimal
	case "FLOAT4", "FLOAT8":
		return row.KindFloat
	case "BOOL":
		return row.KindBool
	case "DATE":
		return row.KindDate
	case "TIMESTAMP", "TIMESTAMPTZ":
		return row.KindDateTime
	case "TIME":
		return row.KindTime
	case "JSON", "JSONB":
		return row.KindJSON
	case "BYTEA":
		return row.KindBase64
	case "":
		return row.KindAny
	}
	return row.KindString // text, varchar, bpchar, name, uuid, interval, timetz, inet, money, enums...
}

// postgresNormalize turns pgx's database/sql values into transform values.
func postgresNormalize(col *row.Column, v any) (row.Value, error) {
	switch x := v.(type) {
	case float64:
		if col.DBType == "FLOAT4" && !math.IsNaN(x) && !math.IsInf(x, 0) {
			return float32To64(float32(x)), nil
		}
		return x, nil
	case string:
		switch col.Kind {
		case row.KindDecimal:
			return row.Decimal(x), nil
		case row.KindArray:
			return parsePGArray(x, col)
		}
	}
	return v, nil
}

// postgresTransient reports connection failures: refused or lost connections,
// a backend terminated by the administrator or a server shutting down.
func postgresTransient(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || pgconn.SafeToRetry(err) || connFailure(err)
}
