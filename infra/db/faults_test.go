package db_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// marker returns a unique SQL comment to find a query on the server.
func marker() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "sqlfeed_mark_" + hex.EncodeToString(b[:])
}

// serverQueries returns the server-side ids of the sessions running a query
// that contains mark.
func serverQueries(t testing.TB, tdb *testsvc.DB, mark string) []int64 {
	t.Helper()
	return tdb.SessionsRunning(t, mark)
}

// kill ends the server session id from another connection.
func kill(t testing.TB, tdb *testsvc.DB, id int64) {
	t.Helper()
	tdb.Kill(t, id)
}

// sessionID returns the server session id a query of d runs on.
func sessionID(t testing.TB, d *db.DB) int64 {
	t.Helper()
	q := "SELECT CONNECTION_ID()"
	if d.Engine() == "postgres" {
		q = "SELECT pg_backend_pid()"
	}
	rows, _ := queryJSON(t, d, q)
	if len(rows) != 1 {
		t.Fatalf("%s: %d rows", q, len(rows))
	}
	var id int64
	for _, c := range strings.Trim(rows[0], "[]") {
		id = id*10 + int64(c-'0')
	}
	return id
}

// TestUnreachable: the error names host and port, never the password, and
// connection failures are retried with backoff (bounded).
func TestUnreachable(t *testing.T) {
	for _, dsn := range []string{
		"mysql://feeder:Sup3rS3cretPw@127.0.0.1:1/shop",
		"postgres://feeder:Sup3rS3cretPw@127.0.0.1:1/shop?sslmode=disable",
	} {
		t.Run(strings.Split(dsn, ":")[0], func(t *testing.T) {
			d, err := db.Open(context.Background(), dsn, db.Options{Retries: 2, Backoff: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			_, err = d.Query(ctx, "SELECT 1")
			took := time.Since(start)
			if err == nil {
				t.Fatal("query on an unreachable server succeeded")
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			if !strings.Contains(msg, "127.0.0.1:1") || strings.Contains(msg, "Sup3rS3cretPw") {
				t.Errorf("error must name 127.0.0.1:1 and not the password: %s", msg)
			}
			if took < 300*time.Millisecond || took > 10*time.Second {
				t.Errorf("2 retries with 100ms, 200ms backoff took %v", took)
			}
			if err := d.Ping(ctx); err == nil || strings.Contains(err.Error(), "Sup3rS3cretPw") || !strings.Contains(err.Error(), "127.0.0.1:1") {
				t.Errorf("ping error: %v", err)
			}
		})
	}
}

// streamQuery generates rows server-side, enough to stream for a while.
func streamQuery(engine, mark string) string {
	if engine == "postgres" {
		return "SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 5000000) g /* " + mark + " */"
	}
	return "SELECT seq, REPEAT('x', 200) AS pad FROM seq_1_to_5000000 /* " + mark + " */"
}

// TestKilledMidStream: killing the session while rows flow ends the cursor with
// an error (not a short, "successful" result), and the next query works.
func TestKilledMidStream(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			d := open(t, tdb, db.Options{})
			mark := marker()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := d.Query(ctx, streamQuery(engine, mark))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			n := 0
			for c.Next() {
				n++
				if n == 1000 {
					ids := serverQueries(t, tdb, mark)
					if len(ids) != 1 {
						t.Fatalf("server shows %d sessions running the query", len(ids))
					}
					kill(t, tdb, ids[0])
				}
			}
			err = c.Err()
			t.Logf("read %d rows, then: %v", n, err)
			if err == nil || n >= 5000000 {
				t.Fatalf("killed query ended without error after %d rows", n)
			}
			c.Close()
			if rows, _ := queryJSON(t, d, "SELECT 1"); len(rows) != 1 {
				t.Errorf("query after the kill: %v", rows)
			}
		})
	}
}

// TestWriteRejected: every statement that would change data fails in the
// read-only transaction, and nothing changed.
func TestWriteRejected(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			tdb.Exec(t, "CREATE TABLE t (a INT)")
			tdb.Exec(t, "INSERT INTO t VALUES (1)")
			writes := []string{
				"INSERT INTO t VALUES (2)",
				"UPDATE t SET a = 3",
				"DELETE FROM t",
				"CREATE TABLE t2 (a INT)",
				"DROP TABLE t",
				"TRUNCATE t",
			}
			if engine == "postgres" {
				tdb.Exec(t, "CREATE SEQUENCE s")
				writes = append(writes, "SELECT nextval('s')", "WITH d AS (DELETE FROM t RETURNING a) SELECT * FROM d", "SELECT 1; DELETE FROM t")
			} else {
				writes = append(writes, "SELECT 1; DELETE FROM t", "CREATE TEMPORARY TABLE t3 (a INT)")
			}
			d := open(t, tdb, db.Options{})
			for _, w := range writes {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c, err := d.Query(ctx, w)
				if err == nil {
					for c.Next() {
					}
					err = c.Err()
					c.Close()
				}
				cancel()
				if err == nil {
					t.Errorf("%s: accepted", w)
				} else {
					t.Logf("%s: %v", w, err)
				}
			}
			if rows, _ := queryJSON(t, d, "SELECT a FROM t"); strings.Join(rows, ",") != "[1]" {
				t.Errorf("table changed: %v", rows)
			}
			q := "SELECT table_name FROM information_schema.tables WHERE table_name = 't2'"
			if engine == "mysql" {
				q += " AND table_schema = DATABASE()"
			}
			if rows, _ := queryJSON(t, d, q); len(rows) != 0 {
				t.Errorf("t2 created: %v", rows)
			}
		})
	}
}

// TestDeadline: a query slower than the context deadline fails around the
// deadline and the server is left running nothing.
func TestDeadline(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			d := open(t, tdb, db.Options{})
			mark := marker()
			q := "SELECT SLEEP(30) /* " + mark + " */"
			if engine == "postgres" {
				q = "SELECT pg_sleep(30) /* " + mark + " */"
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			start := time.Now()
			c, err := d.Query(ctx, q)
			if err == nil {
				for c.Next() {
				}
				err = c.Err()
				c.Close()
			}
			took := time.Since(start)
			t.Logf("after %v: %v", took, err)
			if err == nil || took > 5*time.Second {
				t.Fatalf("query past its deadline: err %v after %v", err, took)
			}
			for range 20 {
				if len(serverQueries(t, tdb, mark)) == 0 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if ids := serverQueries(t, tdb, mark); len(ids) != 0 {
				t.Fatalf("the server still runs the query (sessions %v) %v after its deadline", ids, time.Since(start)-time.Second)
			}
			// The connection is usable again.
			if rows, _ := queryJSON(t, d, "SELECT 1"); len(rows) != 1 {
				t.Errorf("query after the timeout: %v", rows)
			}
		})
	}
}

// deadlineOnly reports a deadline but is never cancelled: what the server
// does on its own at that deadline.
type deadlineOnly struct {
	context.Context
	at time.Time
}

func (d deadlineOnly) Deadline() (time.Time, bool) { return d.at, true }

// TestServerTimeout: the server itself cancels a statement at the deadline
// (max_statement_time / statement_timeout), even if the client did not.
func TestServerTimeout(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			d := open(t, tdb, db.Options{})
			q := "SELECT SLEEP(30)"
			if engine == "postgres" {
				q = "SELECT pg_sleep(30)"
			}
			ctx := deadlineOnly{context.Background(), time.Now().Add(time.Second)}
			start := time.Now()
			c, err := d.Query(ctx, q)
			if err == nil {
				for c.Next() {
				}
				err = c.Err()
				c.Close()
			}
			took := time.Since(start)
			t.Logf("after %v: %v", took, err)
			if err == nil || took > 5*time.Second {
				t.Fatalf("server did not cancel: err %v after %v", err, took)
			}
		})
	}
}
