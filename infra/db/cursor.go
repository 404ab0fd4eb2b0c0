package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sqlfeed/sqlfeed/row"
)

// Cursor streams the rows of one query inside its read-only transaction. It
// holds one pooled connection until Close.
type Cursor struct {
	db     *DB
	conn   *sql.Conn
	rows   *sql.Rows
	cancel context.CancelFunc
	cols   []row.Column
	raw    []any
	ptrs   []any
	row    []row.Value
	arena  []byte // the current block of keep
	// scanErr is the first conversion error of colScanner in this row.
	scanErr error
	err     error
	// first is the result of the rows.Next call made by Query (the first row
	// is fetched there, so failures before it can be retried); pending means
	// Next has not consumed it yet.
	first, pending bool
	done           bool // rows reached their end (or failed)
}

// Query runs query in a read-only snapshot transaction and returns a cursor
// over its rows. The caller must Close the cursor. When ctx has a deadline,
// the server cancels the statement by itself at that deadline.
//
// Connection failures before the first row (a server restarted, an idle
// connection killed) are retried on a new connection with a bounded
// backoff; a failure after rows have flowed ends the iteration (see Err).
// args bind the query's parameters (RangeQuery).
func (db *DB) Query(ctx context.Context, query string, args ...any) (*Cursor, error) {
	if err := checkStatement(db.Engine(), query); err != nil {
		return nil, err
	}
	wait := db.opt.Backoff
	for attempt := 0; ; attempt++ {
		c, err := db.start(ctx, query, args)
		if err == nil {
			return c, nil
		}
		if attempt >= db.opt.Retries || ctx.Err() != nil || !db.transient(err) {
			return nil, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait = min(2*wait, db.opt.MaxBackoff)
	}
}

// transient reports whether err (from start) is worth another attempt.
func (db *DB) transient(err error) bool {
	return db.d != nil && db.d.transient != nil && db.d.transient(cause(err))
}

// start is one attempt of Query: take a connection, ping it, begin the
// transaction, run the query and fetch the first row.
func (db *DB) start(ctx context.Context, query string, args []any) (_ *Cursor, err error) {
	qctx, cancel := context.WithCancel(ctx)
	conn, err := db.X.Conn(qctx)
	if err != nil {
		cancel()
		return nil, db.errorf("connect", err)
	}
	c := &Cursor{db: db, conn: conn, cancel: cancel}
	defer func() {
		if err != nil {
			c.abort()
		}
	}()
	if err := conn.PingContext(qctx); err != nil {
		return nil, db.errorf("ping", err)
	}
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return nil, db.errorf("query", context.DeadlineExceeded)
		}
	}
	if err := db.d.begin(qctx, db, conn, timeout); err != nil {
		return nil, db.errorf("begin read-only transaction", err)
	}
	c.rows, err = conn.QueryContext(qctx, query, args...)
	if err != nil {
		return nil, db.errorf("query", err)
	}
	cts, err := c.rows.ColumnTypes()
	if err != nil {
		return nil, db.errorf("query columns", err)
	}
	if len(cts) == 0 { // e.g. SELECT … INTO OUTFILE, COPY … TO PROGRAM
		return nil, db.errorf("query", errors.New("the statement returned no result set; a feed's query is one SELECT returning at least one column"))
	}
	c.cols = make([]row.Column, len(cts))
	for i, ct := range cts {
		c.cols[i] = db.d.column(ct)
	}
	c.raw = make([]any, len(cts))
	c.ptrs = make([]any, len(cts))
	for i := range c.raw {
		c.ptrs[i] = &colScanner{c: c, i: i}
	}
	c.row = make([]row.Value, len(cts))
	c.first, c.pending = c.rows.Next(), true
	if !c.first {
		c.done = true
		if err := c.rows.Err(); err != nil {
			return nil, db.errorf("query", err)
		}
	}
	return c, nil
}

// colScanner is the scan destination of one column. database/sql hands a
// Scanner the driver's value as is, so a []byte value (which aliases the
// driver's buffer) is copied once into the cursor's arena instead of into an
// allocation of its own, as scanning into *any would.
type colScanner struct {
	c *Cursor
	i int
}

// Scan implements sql.Scanner. A conversion error is kept for Next, which
// reports it with the column's name.
func (s *colScanner) Scan(src any) error {
	c := s.c
	if b, ok := src.([]byte); ok {
		if conv := c.db.d.scanBytes; conv != nil {
			v, err := conv(&c.cols[s.i], b, c.keep)
			if err != nil && c.scanErr == nil {
				c.scanErr = fmt.Errorf("column %q: %w", c.cols[s.i].Name, err)
			}
			c.raw[s.i] = v
			return nil
		}
		if !c.db.d.owned || len(b) == 0 { // keep makes an empty value non-nil
			src = c.keep(b)
		}
	}
	c.raw[s.i] = src
	return nil
}

// arenaChunk is the size of the blocks that hold the row values' bytes.
const arenaChunk = 64 << 10

// keep returns a copy of b that stays valid after the next row: rows' bytes
// are packed into shared blocks, which are never reused (a block is garbage
// once no value in it is referenced), so copies of rows may outlive Next.
func (c *Cursor) keep(b []byte) []byte {
	n := len(b)
	if n == 0 {
		return []byte{} // empty, not NULL
	}
	if n > arenaChunk/8 {
		return append([]byte(nil), b...)
	}
	if cap(c.arena)-len(c.arena) < n {
		c.arena = make([]byte, 0, arenaChunk)
	}
	start := len(c.arena)
	c.arena = append(c.arena, b...)
	return c.arena[start : start+n : start+n]
}

// Columns returns the result columns.
func (c *Cursor) Columns() []row.Column { return c.cols }

// Next advances to the next row; it returns false at the end or on error (see Err).
func (c *Cursor) Next() bool {
	if c.err != nil || c.rows == nil {
		return false
	}
	var ok bool
	if c.pending {
		ok, c.pending = c.first, false
	} else {
		ok = c.rows.Next()
	}
	if !ok {
		c.done = true
		return false
	}
	if err := c.rows.Scan(c.ptrs...); err != nil {
		c.err = c.db.errorf("scan", err)
		c.done = true
		return false
	}
	if c.scanErr != nil {
		c.err, c.done = c.scanErr, true
		return false
	}
	norm := c.db.d.normalize
	for i, v := range c.raw {
		if norm != nil && v != nil {
			nv, err := norm(&c.cols[i], v)
			if err != nil {
				c.err = fmt.Errorf("column %q: %w", c.cols[i].Name, err)
				c.done = true
				return false
			}
			v = nv
		}
		c.row[i] = v
	}
	return true
}

// Row returns the current row. The slice is reused by the next call to Next,
// but the values in it never alias the driver's buffers ([]byte values are the
// row's own copies), so a copy of the slice stays valid: the exporter reads
// rows ahead into batches this way.
func (c *Cursor) Row() []row.Value { return c.row }

// Err returns the error that ended the iteration, if any.
func (c *Cursor) Err() error {
	if c.err != nil {
		return c.err
	}
	if c.rows == nil {
		return nil
	}
	if err := c.rows.Err(); err != nil {
		if c.db.transient(err) {
			return c.db.errorf("read rows (connection lost: killed, or the server went away)", err)
		}
		return c.db.errorf("read rows", err)
	}
	return nil
}

// Close ends the query and its transaction (rolled back: it only read) and
// gives the connection back to the pool. Closing before the last row cancels
// the query on the server instead of reading the rest.
func (c *Cursor) Close() error {
	if c.conn == nil {
		return nil
	}
	if !c.done {
		c.cancel() // the drivers abort the running statement
	}
	var err error
	if c.rows != nil {
		err = c.rows.Close()
		if !c.done {
			err = nil // the cancellation's own error
		}
	}
	c.finish()
	if err != nil {
		return c.db.errorf("close rows", err)
	}
	return nil
}

// abort releases the connection of a failed attempt: it is closed, not
// pooled, since its state is unknown.
func (c *Cursor) abort() {
	c.cancel()
	if c.rows != nil {
		_ = c.rows.Close()
	}
	discard(c.conn)
	c.conn = nil
}

// finish rolls the transaction back and releases the connection; a
// connection whose rollback fails is closed rather than pooled.
func (c *Cursor) finish() {
	defer c.cancel()
	conn := c.conn
	c.conn = nil
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, c.db.d.end); err != nil {
		discard(conn)
		return
	}
	_ = conn.Close()
}
