package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"modernc.org/sqlite"

	"github.com/sqlfeed/sqlfeed/row"
)

func init() {
	dialects["sqlite"] = &dialect{
		open: func(d DSN) (*sql.DB, string, error) {
			if _, err := os.Stat(d.Path); err != nil {
				return nil, "", fmt.Errorf("sqlite file: %w", err)
			}
			q, err := url.ParseQuery(d.URL.RawQuery)
			if err != nil {
				return nil, "", err
			}
			// Read only: queries that try to write fail.
			q.Set("mode", "ro")
			q.Add("_pragma", "query_only(1)")
			q.Add("_pragma", "busy_timeout(5000)")
			c, err := sqlite.NewConnector("file:" + d.Path + "?" + q.Encode())
			if err != nil {
				return nil, "", err
			}
			return sql.OpenDB(readOnlyConnector{c}), "sqlite", nil
		},
		begin: func(ctx context.Context, _ *DB, conn *sql.Conn, _ time.Duration) error {
			// A read transaction sees one snapshot of the file.
			_, err := conn.ExecContext(ctx, "BEGIN")
			return err
		},
		end:       "ROLLBACK",
		column:    sqliteColumn,
		described: sqliteDescribed,
		owned:     true, // modernc.org/sqlite copies every BLOB into a new slice
	}
}

// sqliteDescribed undoes SQLite's renaming of duplicate column names in a
// subquery (a, a → a, a:1; compared ignoring case), so that Describe reports
// the names the query returns and a duplicate is refused as it is by a run.
func sqliteDescribed(cols []row.Column) {
	for i := range cols {
		name := cols[i].Name
		j := strings.LastIndexByte(name, ':')
		if j <= 0 || j == len(name)-1 || strings.Trim(name[j+1:], "0123456789") != "" {
			continue
		}
		base := name[:j]
		for _, earlier := range cols[:i] {
			if strings.EqualFold(earlier.Name, base) {
				cols[i].Name = base
				break
			}
		}
	}
}

// readOnlyConnector opens SQLite connections that only read: an authorizer,
// installed after the driver's own pragmas, denies every action but reading,
// functions, WITH RECURSIVE and BEGIN/ROLLBACK, so a connection cannot
// ATTACH a file, leave query_only (PRAGMA), COMMIT the read transaction or
// write, whatever the query.
type readOnlyConnector struct{ driver.Connector }

// Connect opens a connection and installs the authorizer.
func (c readOnlyConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	reg, ok := conn.(sqlite.AuthorizerRegisterer)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("sqlite driver has no authorizer")
	}
	if err := reg.RegisterAuthorizer(readOnlyAuthorizer); err != nil {
		conn.Close()
		return nil, fmt.Errorf("sqlite authorizer: %w", err)
	}
	return conn, nil
}

// readOnlyAuthorizer allows what a SELECT needs and denies everything else.
func readOnlyAuthorizer(action sqlite.AuthorizerActionCode, arg1, _, _, _ string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthSelect, sqlite.AuthRead, sqlite.AuthFunction, sqlite.AuthRecursive:
		return sqlite.AuthorizerOK
	case sqlite.AuthTransaction:
		if arg1 == "BEGIN" || arg1 == "ROLLBACK" {
			return sqlite.AuthorizerOK
		}
	}
	return sqlite.AuthorizerDeny
}

// sqliteColumn maps a declared SQLite column type (its affinity rules) to a Kind.
// Expressions have no declared type and get KindAny (decided per value).
func sqliteColumn(ct *sql.ColumnType) row.Column {
	t := baseType(ct.DatabaseTypeName())
	c := row.Column{Name: ct.Name(), DBType: t, Nullable: true}
	if n, ok := ct.Nullable(); ok {
		c.Nullable = n
	}
	switch {
	case t == "":
		c.Kind = row.KindAny
	case strings.Contains(t, "INT"):
		c.Kind = row.KindInt
	case strings.Contains(t, "CHAR"), strings.Contains(t, "CLOB"), strings.Contains(t, "TEXT"):
		c.Kind = row.KindString
	case strings.Contains(t, "BLOB"):
		c.Kind = row.KindBase64
	case strings.Contains(t, "REAL"), strings.Contains(t, "FLOA"), strings.Contains(t, "DOUB"):
		c.Kind = row.KindFloat
	case strings.Contains(t, "BOOL"):
		c.Kind = row.KindBool
	case t == "DATETIME", t == "TIMESTAMP":
		c.Kind = row.KindDateTime
	case t == "DATE":
		c.Kind = row.KindDate
	case t == "TIME":
		c.Kind = row.KindTime
	case t == "JSON":
		c.Kind = row.KindJSON
	default: // NUMERIC, DECIMAL and other numeric affinity
		c.Kind = row.KindDecimal
	}
	return c
}
