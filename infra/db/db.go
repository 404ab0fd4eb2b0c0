// Package db opens the source databases (SQLite, MySQL/MariaDB, PostgreSQL)
// through sqlx and streams query results as normalised rows (transform.Value),
// each query in a read-only transaction with a consistent snapshot.
package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/sqlfeed/sqlfeed/transform"
)

// dialect is what differs between engines.
type dialect struct {
	// open returns the driver name and driver DSN.
	open func(d DSN) (driver, dsn string, err error)
	// begin starts a read-only snapshot transaction on conn.
	begin func(ctx context.Context, x *sqlx.DB) (*sqlx.Tx, error)
	// column maps a driver column type to a transform.Column.
	column func(ct *sql.ColumnType) transform.Column
	// normalize turns a scanned driver value into a transform.Value (may be nil func).
	normalize func(col *transform.Column, v any) (transform.Value, error)
}

var dialects = map[string]*dialect{}

// Options tunes the connection pool.
type Options struct {
	// MaxConns is the pool size; 0 means 1 (Lambda: one connection per container).
	MaxConns int
}

// DB is an open source database.
type DB struct {
	X      *sqlx.DB
	DSN    DSN
	d      *dialect
	engine string
}

// Open opens (but does not yet use) the database named by dsn.
func Open(ctx context.Context, dsn string, opt Options) (*DB, error) {
	d, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	dl, ok := dialects[d.Engine]
	if !ok {
		return nil, fmt.Errorf("database %s: engine %s is not built in", d, d.Engine)
	}
	driver, driverDSN, err := dl.open(d)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", d, err)
	}
	x, err := sqlx.Open(driver, driverDSN)
	if err != nil {
		return nil, fmt.Errorf("database %s: %s", d, redactErr(err, d))
	}
	n := opt.MaxConns
	if n <= 0 {
		n = 1
	}
	x.SetMaxOpenConns(n)
	x.SetMaxIdleConns(n)
	return &DB{X: x, DSN: d, d: dl, engine: d.Engine}, nil
}

// Engine returns "sqlite", "mysql" or "postgres".
func (db *DB) Engine() string { return db.engine }

// Close closes the pool.
func (db *DB) Close() error { return db.X.Close() }

// Ping checks the connection.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.X.PingContext(ctx); err != nil {
		return fmt.Errorf("database %s: %s", db.DSN, redactErr(err, db.DSN))
	}
	return nil
}

// redactErr returns the error text with any password of d removed.
func redactErr(err error, d DSN) string {
	msg := err.Error()
	if d.URL != nil && d.URL.User != nil {
		if p, ok := d.URL.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// Cursor streams the rows of one query inside its read-only transaction.
type Cursor struct {
	db   *DB
	tx   *sqlx.Tx
	rows *sqlx.Rows
	cols []transform.Column
	raw  []any
	ptrs []any
	row  []transform.Value
	err  error
}

// Query runs query in a read-only snapshot transaction and returns a cursor
// over its rows. The caller must Close the cursor.
func (db *DB) Query(ctx context.Context, query string) (*Cursor, error) {
	tx, err := db.d.begin(ctx, db.X)
	if err != nil {
		return nil, fmt.Errorf("begin read-only transaction on %s: %s", db.DSN, redactErr(err, db.DSN))
	}
	rows, err := tx.QueryxContext(ctx, query)
	if err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("query: %s", redactErr(err, db.DSN))
	}
	cts, err := rows.ColumnTypes()
	if err != nil {
		rows.Close()
		tx.Rollback()
		return nil, fmt.Errorf("query columns: %w", err)
	}
	c := &Cursor{db: db, tx: tx, rows: rows}
	c.cols = make([]transform.Column, len(cts))
	for i, ct := range cts {
		c.cols[i] = db.d.column(ct)
	}
	c.raw = make([]any, len(cts))
	c.ptrs = make([]any, len(cts))
	for i := range c.raw {
		c.ptrs[i] = &c.raw[i]
	}
	c.row = make([]transform.Value, len(cts))
	return c, nil
}

// Columns returns the result columns.
func (c *Cursor) Columns() []transform.Column { return c.cols }

// Next advances to the next row; it returns false at the end or on error (see Err).
func (c *Cursor) Next() bool {
	if c.err != nil || !c.rows.Next() {
		return false
	}
	if err := c.rows.Scan(c.ptrs...); err != nil {
		c.err = fmt.Errorf("scan: %w", err)
		return false
	}
	for i, v := range c.raw {
		if c.db.d.normalize != nil && v != nil {
			nv, err := c.db.d.normalize(&c.cols[i], v)
			if err != nil {
				c.err = fmt.Errorf("column %q: %w", c.cols[i].Name, err)
				return false
			}
			v = nv
		}
		c.row[i] = v
	}
	return true
}

// Row returns the current row; it is valid until the next call to Next.
func (c *Cursor) Row() []transform.Value { return c.row }

// Err returns the error that ended the iteration, if any.
func (c *Cursor) Err() error {
	if c.err != nil {
		return c.err
	}
	if err := c.rows.Err(); err != nil {
		return fmt.Errorf("read rows: %s", redactErr(err, c.db.DSN))
	}
	return nil
}

// Close ends the query and its transaction (rolled back: it only read).
func (c *Cursor) Close() error {
	err := c.rows.Close()
	if rerr := c.tx.Rollback(); err == nil && rerr != nil && rerr != sql.ErrTxDone {
		err = rerr
	}
	return err
}

// Describe returns the columns query would return, without reading any row: it
// runs the query wrapped in a derived table with LIMIT 0.
func (db *DB) Describe(ctx context.Context, query string) ([]transform.Column, error) {
	q := strings.TrimRight(strings.TrimSpace(query), ";")
	c, err := db.Query(ctx, "SELECT * FROM ("+q+") sqlfeed_describe LIMIT 0")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Columns(), c.Err()
}

// baseType returns the upper-case type name without size or modifiers:
// "NVARCHAR(200)" → "NVARCHAR", "unsigned bigint" → "UNSIGNED BIGINT".
func baseType(name string) string {
	name = strings.ToUpper(strings.TrimSpace(name))
	if i := strings.IndexByte(name, '('); i >= 0 {
		name = strings.TrimSpace(name[:i])
	}
	return name
}
