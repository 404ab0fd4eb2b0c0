package testsvc

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"
)

// Session is one client session the server lists.
type Session struct {
	ID    int64  // MySQL connection id / Postgres backend pid
	DB    string // database
	Query string // statement running (or last run, on Postgres), "" when idle on MySQL
}

// Sessions lists the client sessions on db's database other than the one
// asking (MySQL SHOW FULL PROCESSLIST, Postgres pg_stat_activity). It reads
// MySQL's list with SHOW rather than information_schema.PROCESSLIST: on
// MariaDB 10.11 the latter crashed the server (signal 11 freeing its
// temporary table) while other sessions were being killed.
func (db *DB) Sessions(t testing.TB) []Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := db.Admin.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out []Session
	if db.Engine == "postgres" {
		rows, err := conn.QueryContext(ctx, `SELECT pid, datname, CASE WHEN state = 'idle' THEN '' ELSE query END
			FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var s Session
			if err := rows.Scan(&s.ID, &s.DB, &s.Query); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	var self int64
	if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&self); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.QueryContext(ctx, "SHOW FULL PROCESSLIST")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var s Session
		for i, c := range cols {
			switch strings.ToLower(c) {
			case "id":
				for _, r := range vals[i].String {
					s.ID = s.ID*10 + int64(r-'0')
				}
			case "db":
				s.DB = vals[i].String
			case "info":
				s.Query = vals[i].String
			}
		}
		if s.ID != self && s.DB == db.Name {
			out = append(out, s)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// SessionsRunning returns the ids of the sessions whose statement contains mark.
func (db *DB) SessionsRunning(t testing.TB, mark string) []int64 {
	t.Helper()
	var ids []int64
	for _, s := range db.Sessions(t) {
		if strings.Contains(s.Query, mark) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// Kill ends server session id from another connection (KILL /
// pg_terminate_backend).
func (db *DB) Kill(t testing.TB, id int64) {
	t.Helper()
	if db.Engine == "postgres" {
		var ok bool
		if err := db.Admin.QueryRow("SELECT pg_terminate_backend($1)", id).Scan(&ok); err != nil || !ok {
			t.Fatalf("pg_terminate_backend(%d): %v %v", id, ok, err)
		}
		return
	}
	db.Exec(t, "KILL ?", id)
}
