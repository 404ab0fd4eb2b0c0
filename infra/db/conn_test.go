package db_test

import (
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// appSessions counts the server sessions on tdb's database other than the
// inspecting one: the sqlfeed pool's connections (tests keep the Admin pool
// to one connection).
func appSessions(t testing.TB, tdb *testsvc.DB) int {
	t.Helper()
	q := "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()"
	if tdb.Engine == "postgres" {
		q = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
	}
	var n int
	if err := tdb.Admin.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
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
