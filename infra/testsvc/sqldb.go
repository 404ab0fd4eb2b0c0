package testsvc

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"
)

// Default DSNs of the test servers; SQLFEED_TEST_MYSQL and
// SQLFEED_TEST_POSTGRES override them.
const (
	DefaultMySQL    = "mysql://root@127.0.0.1:3306/test"
	DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

const howSQL = "run scripts/test-services.sh (MariaDB on 127.0.0.1:3306, PostgreSQL on 127.0.0.1:5432) " +
	"or point SQLFEED_TEST_MYSQL / SQLFEED_TEST_POSTGRES at servers where the user may create databases"

// DB is a fresh, uniquely named database on a real server for one test; it is
// dropped when the test ends.
type DB struct {
	Engine string // "mysql" or "postgres"
	Name   string // database name
	DSN    string // sqlfeed DSN (mysql://… or postgres://…) of the fresh database
	// Admin is a read-write pool on the fresh database for setup and for
	// inspecting the server (processlist, pg_stat_activity). MySQL sessions use
	// time_zone '+00:00' and an empty sql_mode (zero dates allowed).
	Admin *sql.DB
}

// MySQL creates a fresh database on the MySQL/MariaDB test server.
func MySQL(t testing.TB) *DB {
	t.Helper()
	return fresh(t, "mysql", Env("SQLFEED_TEST_MYSQL", DefaultMySQL))
}

// Postgres creates a fresh database on the PostgreSQL test server.
func Postgres(t testing.TB) *DB {
	t.Helper()
	return fresh(t, "postgres", Env("SQLFEED_TEST_POSTGRES", DefaultPostgres))
}

// Engines returns MySQL(t) and Postgres(t)'s constructors by engine name, for
// table-driven tests over both servers.
var Engines = map[string]func(testing.TB) *DB{"mysql": MySQL, "postgres": Postgres}

// Exec runs statements on db's Admin pool and fails the test on error.
func (db *DB) Exec(t testing.TB, query string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := db.Admin.ExecContext(ctx, query, args...); err != nil {
		t.Fatalf("%s: %s: %v", db.Engine, truncate(query, 200), err)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func fresh(t testing.TB, engine, dsn string) *DB {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("test %s DSN: %v", engine, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	server, err := openURL(engine, u)
	if err == nil {
		err = server.PingContext(ctx)
	}
	if err != nil {
		if server != nil {
			server.Close()
		}
		Missing(t, engine+" test server "+u.Host, err, howSQL)
		return nil
	}
	name := uniqueName(t.Name())
	create, drop := "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4", "DROP DATABASE IF EXISTS `"+name+"`"
	if engine == "postgres" {
		create, drop = `CREATE DATABASE "`+name+`"`, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`
	}
	if _, err := server.ExecContext(ctx, create); err != nil {
		server.Close()
		t.Fatalf("%s: %s: %v", engine, create, err)
	}
	if engine == "mysql" {
		// Tests send and read 16 MiB BLOBs; best effort (needs SUPER), the
		// setting applies to connections opened from now on.
		_, _ = server.ExecContext(ctx, "SET GLOBAL max_allowed_packet = GREATEST(@@global.max_allowed_packet, 67108864)")
	}
	fu := *u
	fu.Path = "/" + name
	admin, err := openURL(engine, &fu)
	if err != nil {
		server.Close()
		t.Fatalf("%s: open %s: %v", engine, name, err)
	}
	admin.SetMaxOpenConns(4)
	t.Cleanup(func() {
		admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := server.ExecContext(ctx, drop); err != nil {
			t.Errorf("%s: %s: %v", engine, drop, err)
		}
		server.Close()
	})
	return &DB{Engine: engine, Name: name, DSN: fu.String(), Admin: admin}
}

// uniqueName returns a database name made from the test name and random hex.
func uniqueName(test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 30 {
		s = s[:30]
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	return "sqlfeed_t_" + s + "_" + hex.EncodeToString(r[:])
}

// openURL opens a read-write pool for a mysql:// or postgres:// URL.
func openURL(engine string, u *url.URL) (*sql.DB, error) {
	if engine == "postgres" {
		pu := *u
		pu.Scheme = "postgres"
		return sql.Open("pgx", pu.String())
	}
	cfg, err := mysql.ParseDSN("tcp(localhost)/?" + u.RawQuery)
	if err != nil {
		return nil, err
	}
	cfg.Net = "tcp"
	port := u.Port()
	if port == "" {
		port = "3306"
	}
	cfg.Addr = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	cfg.Timeout = 5 * time.Second
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.Params["sql_mode"] = "''"
	cfg.MaxAllowedPacket = 64 << 20
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql config: %w", err)
	}
	return sql.OpenDB(c), nil
}
