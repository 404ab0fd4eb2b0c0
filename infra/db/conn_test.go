package db_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"testing"

	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// appSessions counts the server sessions on tdb's database other than the
// inspecting one: the sqlfeed pool's connections (tests keep the Admin pool
// to one connection).
func appSessions(t testing.TB, tdb *testsvc.DB) int {
	t.Helper()
	return len(tdb.Sessions(t))
}

// TestConnectionReuse: ten consecutive runs on one DB use one server session;
// after that session is killed between runs (as when the server restarted or
// dropped an idle connection), the next run reconnects and succeeds.
func TestConnectionReuse(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			tdb.Admin.SetMaxOpenConns(1)
			d := open(t, tdb, db.Options{})
			first := sessionID(t, d)
			for i := range 10 {
				if id := sessionID(t, d); id != first {
					t.Fatalf("run %d used session %d, first run %d", i+2, id, first)
				}
				if n := appSessions(t, tdb); n != 1 {
					t.Fatalf("after run %d the server shows %d sqlfeed sessions, want 1", i+2, n)
				}
			}

			kill(t, tdb, first)
			second := sessionID(t, d) // must reconnect
			if second == first {
				t.Fatalf("run after the kill still on session %d", first)
			}
			if n := appSessions(t, tdb); n != 1 {
				t.Errorf("after reconnecting the server shows %d sqlfeed sessions, want 1", n)
			}
		})
	}
}

// waitGone waits until the server no longer lists session id.
func waitGone(t testing.TB, tdb *testsvc.DB, id int64) {
	t.Helper()
	for range 100 {
		gone := true
		for _, s := range tdb.Sessions(t) {
			gone = gone && s.ID != id
		}
		if gone {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("session %d still listed", id)
}

// TestRetryBeforeFirstRow: a query whose pooled connection died is retried
// on a new connection. On Postgres a connection used again within a second
// is not pinged by the driver, so without retries the query fails: the retry
// is what saves it.
func TestRetryBeforeFirstRow(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			for _, retries := range []int{0, -1} {
				d := open(t, tdb, db.Options{Retries: retries})
				sessionID(t, d)
				id := sessionID(t, d) // reused: pgx pings again only after a second idle
				used := time.Now()
				kill(t, tdb, id)
				waitGone(t, tdb, id)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				quick := time.Since(used) < 800*time.Millisecond
				c, err := d.Query(ctx, "SELECT 1")
				if err == nil {
					for c.Next() {
					}
					err = c.Err()
					c.Close()
				}
				cancel()
				switch {
				case retries == 0 && err != nil:
					t.Errorf("query after the kill, with retries: %v", err)
				case retries < 0 && engine == "postgres" && quick && err == nil:
					t.Errorf("query after the kill succeeded without retries: the retry is not exercised")
				}
				t.Logf("retries %d: %v", retries, err)
			}
		})
	}
}

// TestServerRestart: a run after the server restarted (every connection
// ended while the pool was idle) succeeds on a new connection; and a run while
// the server is down fails with a clear error instead of hanging.
func TestServerRestart(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			srv := testsvc.PrivateServer(t, engine)
			d, err := db.Open(context.Background(), srv.DSN, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			sessionID(t, d)
			srv.Restart(t)
			sessionID(t, d) // fails the test unless the run succeeds

			// Down: a bounded, clear failure naming host:port.
			srv.Stop(t)
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err = d.Query(ctx, "SELECT 1")
			took := time.Since(start)
			t.Logf("server down: %v after %v", err, took)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", srv.Port)) || took > 10*time.Second {
				t.Fatalf("query with the server down: %v after %v", err, took)
			}

			// Back while the query backs off: the query waits for it.
			d2, err := db.Open(context.Background(), srv.DSN, db.Options{Retries: 8})
			if err != nil {
				t.Fatal(err)
			}
			defer d2.Close()
			done := make(chan error, 1)
			go func() {
				time.Sleep(300 * time.Millisecond)
				done <- srv.Start()
			}()
			start = time.Now()
			sessionID(t, d2)
			t.Logf("query succeeded after %v (the server was started 300ms into it)", time.Since(start))
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}
