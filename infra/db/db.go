// Package db opens the source databases (SQLite, MySQL/MariaDB, PostgreSQL)
// through sqlx and streams query results as normalised rows (row.Value),
// each query in a read-only transaction with a consistent snapshot.
//
// A DB is meant to be opened once per process and reused across runs (Lambda
// keeps it while the container is warm): the pool holds one connection by
// default, every query checks its connection with a ping first, and a failure
// before the first row (server restarted, connection killed while idle) is
// retried on a fresh connection with a bounded backoff. A failure after rows
// have flowed ends the cursor with an error.
//
// Per query:
//   - MySQL/MariaDB: SET SESSION max_statement_time (MariaDB) or
//     max_execution_time (MySQL) from the context deadline and a read-only
//     session (so DDL is rejected too), then START TRANSACTION WITH CONSISTENT
//     SNAPSHOT, READ ONLY. Rows stream over the text protocol. The session time
//     zone is UTC, so TIMESTAMP columns are instants.
//   - PostgreSQL (pgx): BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET
//     LOCAL statement_timeout from the context deadline. Rows stream from the
//     extended protocol.
//   - SQLite: a read transaction on a file opened read-only, under an
//     authorizer that allows reading only (no ATTACH, PRAGMA or COMMIT).
//
// Every engine runs one statement per query (checkStatement; no
// multi-statement protocol is allowed by a DSN), and a statement without
// result columns is an error.
//
// Types are decided from the driver's column types (CONTRACT §4). Engine
// notes: MySQL TINYINT(1) is an integer (`type: bool` publishes true/false);
// BIT publishes as a boolean, a wider BIT(n) needs `type: int`; MariaDB's JSON
// is a LONGTEXT alias that the protocol reports as text, so it needs
// `type: json` (MySQL's JSON is embedded by itself); SET publishes as its
// text "a,b"; MySQL zero dates and Postgres ±infinity dates publish as null
// (the latter counted as a warning); MySQL FLOAT and Postgres REAL are
// float32 and publish their shortest float32 form (1.1); Postgres arrays of
// built-in types publish as (nested) JSON arrays, arrays of user types as
// their text; types pgx does not know (enums, domains) publish as text.
package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/sqlfeed/sqlfeed/row"
)

// dialect is what differs between engines.
type dialect struct {
	// open returns the pool (not yet connected) and the sqlx driver name.
	open func(d DSN) (*sql.DB, string, error)
	// begin starts a read-only snapshot transaction on conn; timeout > 0 is
	// the server-side statement timeout.
	begin func(ctx context.Context, db *DB, conn *sql.Conn, timeout time.Duration) error
	// end ends the transaction begun by begin.
	end string
	// column maps a driver column type to a row.Column.
	column func(ct *sql.ColumnType) row.Column
	// normalize turns a non-nil scanned driver value into a row.Value
	// (may be nil: values are already normalised).
	normalize func(col *row.Column, v any) (row.Value, error)
	// scanBytes, when set, converts a []byte value as it is scanned (b
	// aliases the driver's buffer: keep copies what must outlive the row).
	// Its results must be left as they are by normalize.
	scanBytes func(col *row.Column, b []byte, keep func([]byte) []byte) (row.Value, error)
	// owned means the driver's []byte values are fresh allocations, never
	// reused: they are kept as they are instead of copied.
	owned bool
	// transient reports whether err is a connection failure worth a retry on a
	// new connection (may be nil).
	transient func(err error) bool
	// described, when set, restores the names the query itself returns from
	// those of its wrapping by Describe.
	described func(cols []row.Column)
}

var dialects = map[string]*dialect{}

// Options tunes the connection pool.
type Options struct {
	// MaxConns is the pool size; 0 means 1 (Lambda: one connection per container).
	MaxConns int
	// Retries is how many times a query that failed before its first row
	// because of a connection failure is tried again on a new connection;
	// 0 means 3, negative means never.
	Retries int
	// Backoff is the wait before the first retry, doubled for each next one
	// up to MaxBackoff; 0 means 200ms.
	Backoff time.Duration
	// MaxBackoff caps the wait between retries; 0 means 2s.
	MaxBackoff time.Duration
}

func (o Options) withDefaults() Options {
	if o.MaxConns <= 0 {
		o.MaxConns = 1
	}
	if o.Retries == 0 {
		o.Retries = 3
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 2 * time.Second
	}
	return o
}

// DB is an open source database.
type DB struct {
	// X is the connection pool (size Options.MaxConns), for callers that need
	// plain SQL outside the read-only snapshot queries (tests, bench).
	X *sqlx.DB
	// DSN is the parsed DSN; its String hides the password.
	DSN DSN
	d   *dialect
	opt Options

	mu     sync.Mutex
	flavor string // server flavour, detected on first use ("mariadb", "mysql")
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
	sdb, driverName, err := dl.open(d)
	if err != nil {
		return nil, fmt.Errorf("database %s: %s", d, redactErr(err, d))
	}
	opt = opt.withDefaults()
	sdb.SetMaxOpenConns(opt.MaxConns)
	sdb.SetMaxIdleConns(opt.MaxConns)
	return &DB{X: sqlx.NewDb(sdb, driverName), DSN: d, d: dl, opt: opt}, nil
}

// Engine returns "sqlite", "mysql" or "postgres".
func (db *DB) Engine() string { return db.DSN.Engine }

// Close closes the pool.
func (db *DB) Close() error { return db.X.Close() }

// Ping checks the connection.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.X.PingContext(ctx); err != nil {
		return db.errorf("ping", err)
	}
	return nil
}

// errorf wraps err with what was done and the (redacted) DSN, which names
// host and port but never the password.
func (db *DB) errorf(what string, err error) error {
	return &Error{Op: what, DSN: db.DSN.String(), Msg: redactErr(err, db.DSN), err: err, transient: db.transient(err)}
}

// Error is a database failure; its text names the operation and the database
// (host:port, no password). It does not unwrap to the driver's error, whose
// text may hold a password; errors.Is still finds context.Canceled and
// context.DeadlineExceeded.
type Error struct {
	Op  string
	DSN string
	Msg string
	err error
	// transient: a connection failure (server restarted, connection killed,
	// too many connections) that a later attempt may not meet.
	transient bool
}

// Transient reports whether the failure was the connection's, not the
// query's: worth retrying the whole step later.
func (e *Error) Transient() bool { return e.transient }

// Error returns "op on host:port: message" (never a password).
func (e *Error) Error() string { return fmt.Sprintf("%s on %s: %s", e.Op, e.DSN, e.Msg) }

// Is reports whether the cause is target, for the context's errors only.
func (e *Error) Is(target error) bool {
	return (target == context.Canceled || target == context.DeadlineExceeded) && errors.Is(e.err, target)
}

// cause returns the driver's error behind err (err itself if it is no *Error).
func cause(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e.err
	}
	return err
}

// redactErr returns the error text with every password of d removed.
func redactErr(err error, d DSN) string {
	msg := err.Error()
	for _, s := range d.secrets() {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return msg
}

// discard closes conn without returning it to the pool (its session state is
// unknown: a transaction may still be open or the server went away).
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// Describe returns the columns query would return, without reading any row: it
// runs the query wrapped in a derived table with LIMIT 0.
func (db *DB) Describe(ctx context.Context, query string) ([]row.Column, error) {
	if err := checkStatement(db.Engine(), query); err != nil {
		return nil, err
	}
	q := strings.TrimRight(strings.TrimSpace(query), ";")
	// Newlines keep a trailing "-- comment" of the query from swallowing the rest.
	c, err := db.Query(ctx, "SELECT * FROM (\n"+q+"\n) sqlfeed_describe LIMIT 0")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	cols := c.Columns()
	if db.d.described != nil {
		db.d.described(cols)
	}
	return cols, c.Err()
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
