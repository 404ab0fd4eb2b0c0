package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/sqlfeed/sqlfeed/row"
)

func init() {
	dialects["mysql"] = &dialect{
		open:      mysqlOpen,
		begin:     mysqlBegin,
		end:       "ROLLBACK",
		column:    mysqlColumn,
		normalize: mysqlNormalize,
		scanBytes: mysqlBytes,
		transient: mysqlTransient,
	}
}

// mysqlOpen builds the driver configuration from a mysql:// URL. The URL's
// query parameters are the driver's own (tls, charset, ...); sqlfeed fixes the
// session time zone to UTC so TIMESTAMP columns read as instants.
func mysqlOpen(d DSN) (*sql.DB, string, error) {
	u := d.URL
	cfg, err := mysql.ParseDSN("tcp(localhost)/?" + u.RawQuery)
	if err != nil {
		return nil, "", fmt.Errorf("parameters: %w", err)
	}
	if cfg.MultiStatements {
		return nil, "", errors.New("multiStatements=true is refused: a feed's query is one statement; remove the parameter")
	}
	for k := range cfg.Params { // the driver sends unknown parameters as SET k = v
		if secretParam(k) {
			return nil, "", fmt.Errorf("parameter %s is refused (the driver would send it as SET %s): give the password in the user information, mysql://user:password@host/db", k, k)
		}
	}
	cfg.AllowAllFiles = false // no LOAD DATA LOCAL INFILE of client files
	cfg.Net = "tcp"
	cfg.Addr = hostPort(u, "3306")
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	cfg.ParseTime = false // times are parsed by transform.Env in the feed's zone
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second // dial
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	if cfg.Collation == "" {
		cfg.Collation = "utf8mb4_general_ci"
	}
	cfg.Logger = mysqlLogger{}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, "", err
	}
	return sql.OpenDB(conn), "mysql", nil
}

// mysqlLogger drops the driver's own log lines (e.g. "unexpected EOF" when a
// connection was killed): the error reaches the caller anyway.
type mysqlLogger struct{}

func (mysqlLogger) Print(...any) {}

// hostPort returns host:port of u, with port def when it has none.
func hostPort(u *url.URL, def string) string {
	port := u.Port()
	if port == "" {
		port = def
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// mysqlBegin sets the server-side statement timeout (MariaDB
// max_statement_time, MySQL max_execution_time) and starts a read-only
// transaction with a consistent snapshot.
func mysqlBegin(ctx context.Context, db *DB, conn *sql.Conn, timeout time.Duration) error {
	flavor, err := db.mysqlFlavor(ctx, conn)
	if err != nil {
		return err
	}
	// A read-only session (not only transaction) also rejects DDL, which
	// would otherwise commit the read-only transaction implicitly and run.
	var set string
	if flavor == "mariadb" {
		set = fmt.Sprintf("SET SESSION max_statement_time = %.6f, tx_read_only = 1", timeout.Seconds())
	} else {
		set = fmt.Sprintf("SET SESSION max_execution_time = %d, transaction_read_only = 1", timeout.Milliseconds())
	}
	if _, err := conn.ExecContext(ctx, set); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
	return err
}

// mysqlFlavor returns "mariadb" or "mysql", asking the server once.
func (db *DB) mysqlFlavor(ctx context.Context, conn *sql.Conn) (string, error) {
	db.mu.Lock()
	f := db.flavor
	db.mu.Unlock()
	if f != "" {
		return f, nil
	}
	var v string
	if err := conn.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return "", err
	}
	f = "mysql"
	if strings.Contains(strings.ToLower(v), "mariadb") {
		f = "mariadb"
	}
	db.mu.Lock()
	db.flavor = f
	db.mu.Unlock()
	return f, nil
}

// mysqlColumn maps the driver's column type to a Kind. Notes:
//   - TINYINT(1) is an integer (the protocol does not tell BOOL apart); use
//     `type: bool` to publish it as true/false.
//   - BIT publishes as a boolean (BIT(1)); a wider BIT(n) needs `type: int`.
//   - MariaDB's JSON is a LONGTEXT alias and arrives as text; use `type: json`.
//   - TIMESTAMP is an instant (the session time zone is UTC); DATETIME is a wall
//     clock time read in the feed's time zone.
func mysqlColumn(ct *sql.ColumnType) row.Column {
	t := ct.DatabaseTypeName()
	c := row.Column{Name: ct.Name(), DBType: t, Nullable: true}
	if n, ok := ct.Nullable(); ok {
		c.Nullable = n
	}
	switch strings.TrimPrefix(t, "UNSIGNED ") {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR":
		c.Kind = row.KindInt
	case "DECIMAL":
		c.Kind = row.KindDecimal
	case "FLOAT", "DOUBLE":
		c.Kind = row.KindFloat
	case "BIT":
		c.Kind = row.KindBool
	case "DATE":
		c.Kind = row.KindDate
	case "DATETIME":
		c.Kind = row.KindDateTime
	case "TIMESTAMP":
		c.Kind = row.KindDateTime
		c.Zoned = true
	case "TIME":
		c.Kind = row.KindTime
	case "JSON": // MySQL's JSON type: the server stores only valid JSON
		c.Kind, c.ValidJSON = row.KindJSON, true
	case "CHAR", "VARCHAR", "TEXT", "TINYTEXT", "MEDIUMTEXT", "LONGTEXT", "ENUM", "SET":
		c.Kind = row.KindString
	case "BINARY", "VARBINARY", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "GEOMETRY", "VECTOR":
		c.Kind = row.KindBase64
	default: // NULL literal and unknown types: decided per value
		c.Kind = row.KindAny
	}
	return c
}

// mysqlNormalize turns the text-protocol values into transform values. The
// driver already returns int64/uint64 for integers, float32 for FLOAT and
// float64 for DOUBLE; everything else is the server's text, converted by
// mysqlBytes as it is scanned.
func mysqlNormalize(_ *row.Column, v any) (row.Value, error) {
	switch x := v.(type) {
	case float32:
		return float32To64(x), nil
	}
	return v, nil // []byte values were converted as they were scanned
}

// mysqlBytes converts a text value by its column's kind: decimals keep their
// digits, BIT(n) is big-endian bits, dates are parsed (zero dates are NULL),
// TIME is a string; other text stays bytes (copied by keep, as b is the
// driver's buffer).
func mysqlBytes(col *row.Column, b []byte, keep func([]byte) []byte) (row.Value, error) {
	switch col.Kind {
	case row.KindDecimal:
		return row.Decimal(keep(b)), nil
	case row.KindBool: // BIT(n): big-endian bits
		if len(b) > 8 {
			return nil, fmt.Errorf("BIT value of %d bytes", len(b))
		}
		var n uint64
		for _, c := range b {
			n = n<<8 | uint64(c)
		}
		return n, nil
	case row.KindDate, row.KindDateTime:
		if t, zero, ok := parseMySQLTime(b); ok {
			if zero {
				return nil, nil // 0000-00-00: no date
			}
			return t, nil
		}
		return string(b), nil // out of range: Env reports it
	case row.KindTime:
		return string(b), nil
	}
	return keep(b), nil
}

// float32To64 returns the float64 whose shortest decimal form is the float32's
// shortest decimal form (1.1, not 1.100000023841858).
func float32To64(f float32) float64 {
	g, err := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	if err != nil { // ±Inf, NaN
		return float64(f)
	}
	return g
}

// mysqlTransient reports connection failures: a dead or killed connection, a
// server going away or refusing connections.
func mysqlTransient(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1053, // server shutdown in progress
			1927, // connection was killed
			1040, // too many connections
			2006, 2013:
			return true
		}
		return false
	}
	return connFailure(err) || errors.Is(err, mysql.ErrInvalidConn)
}

// connFailure reports errors of the connection itself, common to all drivers.
func connFailure(err error) bool {
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne)
}
