package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sqlfeed/sqlfeed/infra/db"
)

// The synthetic table: mixed types, non-ASCII text, TEXT of 0–300 characters
// (NULL every 50th row), a small JSON column. Row i is a pure function of i,
// so the first N rows of any bigger table are the table of N rows.
const (
	mysqlTable = `CREATE TABLE bench_items (
  id BIGINT NOT NULL PRIMARY KEY,
  name VARCHAR(80) NOT NULL,
  price DECIMAL(12,2) NOT NULL,
  qty INT NOT NULL,
  score DOUBLE NOT NULL,
  active BOOLEAN NOT NULL,
  created DATETIME(6) NOT NULL,
  note TEXT NULL,
  meta JSON NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`
	postgresTable = `CREATE TABLE bench_items (
  id BIGINT NOT NULL PRIMARY KEY,
  name VARCHAR(80) NOT NULL,
  price NUMERIC(12,2) NOT NULL,
  qty INT NOT NULL,
  score DOUBLE PRECISION NOT NULL,
  active BOOLEAN NOT NULL,
  created TIMESTAMP(6) NOT NULL,
  note TEXT NULL,
  meta JSON NULL
)`
)

// benchQuery is the query every measurement of n rows runs.
func benchQuery(n int64) string {
	return fmt.Sprintf("SELECT id, name, price, qty, score, active, created, note, meta FROM bench_items WHERE id <= %d ORDER BY id", n)
}

// splitmix64 is the deterministic generator of the row contents.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

var (
	names  = []string{"Ærøskøbing widget", "Gdańsk bolt", "Zürich gear", "東京 sprocket", "São Paulo valve", "Málaga cog"}
	sizes  = []string{"S", "M", "L", "XL", "größe 42", "½ inch"}
	lorem  = strings.Repeat("lorem ipsum dolor sit amet, consectetur adipiscing elit — ", 6)
	epoch  = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	metaKs = []string{"red", "green", "blue", "black"}
)

// writeRows writes rows 1..n as tab-separated text in the format both LOAD
// DATA (default options) and COPY (text format) read: \N is NULL.
func writeRows(w io.Writer, n int64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	var b []byte
	for i := int64(1); i <= n; i++ {
		h := splitmix64(uint64(i))
		b = b[:0]
		b = strconv.AppendInt(b, i, 10)
		b = append(b, '\t')
		b = append(b, names[h%uint64(len(names))]...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, i, 10)
		b = append(b, " — "...)
		b = append(b, sizes[(h>>8)%uint64(len(sizes))]...)
		b = append(b, '\t')
		cents := (h >> 16) % 10000000
		b = strconv.AppendUint(b, cents/100, 10)
		b = append(b, '.', byte('0'+cents%100/10), byte('0'+cents%10))
		b = append(b, '\t')
		b = strconv.AppendUint(b, (h>>24)%100000, 10)
		b = append(b, '\t')
		b = strconv.AppendFloat(b, float64((h>>32)%100000000)/1e6, 'g', -1, 64)
		b = append(b, '\t')
		if h&(1<<40) != 0 {
			b = append(b, '1')
		} else {
			b = append(b, '0')
		}
		b = append(b, '\t')
		t := epoch.Add(time.Duration(i)*37*time.Second + time.Duration((h>>41)%1000000)*time.Microsecond)
		b = t.AppendFormat(b, "2006-01-02 15:04:05.000000")
		b = append(b, '\t')
		if i%50 == 0 {
			b = append(b, `\N`...)
		} else {
			k := int((h >> 12) % 301)
			for k > 0 && !utf8.RuneStart(lorem[k]) {
				k-- // whole characters only
			}
			b = append(b, lorem[:k]...)
		}
		b = append(b, '\t')
		if i%20 == 0 {
			b = append(b, `\N`...)
		} else {
			b = append(b, `{"tags":["`...)
			b = append(b, metaKs[(h>>50)%4]...)
			b = append(b, `","sale"],"rank":`...)
			b = strconv.AppendUint(b, (h>>52)%1000, 10)
			b = append(b, '}')
		}
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ensureTable makes bench_items hold rows 1..n (at least): it keeps a table
// that already does and otherwise recreates and loads it (LOAD DATA LOCAL
// INFILE on MySQL/MariaDB, COPY on PostgreSQL).
func ensureTable(ctx context.Context, dsn string, n int64, logf func(string, ...any)) error {
	d, err := db.Open(ctx, dsn, db.Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	var have, count sql.NullInt64
	if err := d.X.QueryRowContext(ctx, "SELECT MAX(id), COUNT(*) FROM bench_items").Scan(&have, &count); err == nil &&
		have.Int64 >= n && have.Int64 == count.Int64 {
		return nil
	}
	logf("%s: loading bench_items with %d rows", d.Engine(), n)
	start := time.Now()
	conn, err := d.X.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "DROP TABLE IF EXISTS bench_items"); err != nil {
		return fmt.Errorf("drop bench_items: %w", err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeRows(pw, n)) }()
	defer pr.Close()
	switch d.Engine() {
	case "mysql":
		if _, err := conn.ExecContext(ctx, mysqlTable); err != nil {
			return fmt.Errorf("create bench_items: %w", err)
		}
		mysql.RegisterReaderHandler("bench_items", func() io.Reader { return pr })
		defer mysql.DeregisterReaderHandler("bench_items")
		if _, err := conn.ExecContext(ctx, "LOAD DATA LOCAL INFILE 'Reader::bench_items' INTO TABLE bench_items CHARACTER SET utf8mb4"); err != nil {
			return fmt.Errorf("load bench_items: %w", err)
		}
	case "postgres":
		if _, err := conn.ExecContext(ctx, postgresTable); err != nil {
			return fmt.Errorf("create bench_items: %w", err)
		}
		err := conn.Raw(func(dc any) error {
			_, err := dc.(*stdlib.Conn).Conn().PgConn().CopyFrom(ctx, pr, "COPY bench_items FROM STDIN")
			return err
		})
		if err != nil {
			return fmt.Errorf("copy bench_items: %w", err)
		}
		if _, err := conn.ExecContext(ctx, "VACUUM ANALYZE bench_items"); err != nil {
			return fmt.Errorf("analyze bench_items: %w", err)
		}
	default:
		return fmt.Errorf("engine %s: the bench runs on mysql and postgres", d.Engine())
	}
	logf("%s: loaded %d rows in %v", d.Engine(), n, time.Since(start).Round(time.Millisecond))
	return nil
}

// serverVersion returns the server's version string.
func serverVersion(ctx context.Context, dsn string) string {
	d, err := db.Open(ctx, dsn, db.Options{})
	if err != nil {
		return "?"
	}
	defer d.Close()
	var v string
	q := "SELECT VERSION()"
	if d.Engine() == "postgres" {
		q = "SHOW server_version"
	}
	if err := d.X.QueryRowContext(ctx, q).Scan(&v); err != nil {
		return "?"
	}
	return v
}

// rawRead is the raw read limit: query through the same driver and
// connection settings as sqlfeed, every column scanned as sql.RawBytes and
// discarded. It returns the rows and bytes read.
func rawRead(ctx context.Context, dsn, query string) (rows, bytes int64, err error) {
	d, err := db.Open(ctx, dsn, db.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer d.Close()
	r, err := d.X.QueryContext(ctx, query)
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	cols, err := r.Columns()
	if err != nil {
		return 0, 0, err
	}
	raw := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	for r.Next() {
		if err := r.Scan(ptrs...); err != nil {
			return rows, bytes, err
		}
		rows++
		for _, b := range raw {
			bytes += int64(len(b))
		}
	}
	return rows, bytes, r.Err()
}
