package testsvc

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Private is a database server of the test's own (a fresh MariaDB or
// PostgreSQL instance in a temporary directory, on a free port) that the test
// may stop and restart, which the shared servers must not be. It is stopped
// and removed when the test ends.
type Private struct {
	Engine string // "mysql" or "postgres"
	DSN    string // sqlfeed DSN of its database "test"
	Port   int
	dir    string
	start  func() error
	stop   func() error
}

// PrivateServer starts a private server of engine ("mysql" or "postgres")
// from the installed server binaries (scripts/test-services.sh installs them).
func PrivateServer(t testing.TB, engine string) *Private {
	t.Helper()
	dir, err := os.MkdirTemp("", "sqlfeed-"+engine+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p := &Private{Engine: engine, Port: port, dir: dir}
	if engine == "postgres" {
		err = p.initPostgres()
	} else {
		err = p.initMariaDB()
	}
	if err != nil {
		Missing(t, "a private "+engine+" server", err, "install the server binaries (scripts/test-services.sh)")
		return nil
	}
	t.Cleanup(func() { _ = p.stop() })
	if err := p.Start(); err != nil {
		t.Fatalf("start private %s: %v", engine, err)
	}
	return p
}

// Start starts the server and waits until it accepts connections.
func (p *Private) Start() error {
	if err := p.start(); err != nil {
		return err
	}
	for range 150 {
		if c, err := net.DialTimeout("tcp", p.addr(), time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not come up on %s", p.Engine, p.addr())
}

// Stop stops the server; every connection to it ends.
func (p *Private) Stop(t testing.TB) {
	t.Helper()
	if err := p.stop(); err != nil {
		t.Fatalf("stop private %s: %v", p.Engine, err)
	}
}

// Restart stops the server (every connection to it ends) and starts it again.
func (p *Private) Restart(t testing.TB) {
	t.Helper()
	if err := p.stop(); err != nil {
		t.Fatalf("stop private %s: %v", p.Engine, err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("restart private %s: %v", p.Engine, err)
	}
}

func (p *Private) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)) }

func run(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, truncate(string(out), 400))
	}
	return nil
}

func (p *Private) initMariaDB() error {
	install, err := exec.LookPath("mariadb-install-db")
	if err != nil {
		return err
	}
	server := "/usr/sbin/mariadbd"
	if _, err := os.Stat(server); err != nil {
		if server, err = exec.LookPath("mariadbd"); err != nil {
			return err
		}
	}
	data := filepath.Join(p.dir, "data")
	u, _ := user.Current()
	if err := run(install, "--no-defaults", "--user="+u.Username, "--datadir="+data,
		"--auth-root-authentication-method=normal", "--skip-test-db"); err != nil {
		return err
	}
	pidFile := filepath.Join(p.dir, "mariadb.pid")
	var cmd *exec.Cmd
	p.start = func() error {
		cmd = exec.Command(server, "--no-defaults", "--user="+u.Username, "--datadir="+data,
			"--port="+strconv.Itoa(p.Port), "--bind-address=127.0.0.1", "--socket="+filepath.Join(p.dir, "sock"),
			"--pid-file="+pidFile, "--tmpdir="+p.dir, "--skip-log-bin", "--innodb-buffer-pool-size=16M", "--skip-name-resolve",
			"--log-error="+filepath.Join(p.dir, "error.log"))
		if err := cmd.Start(); err != nil {
			return err
		}
		return run("/bin/sh", "-c", fmt.Sprintf("for i in $(seq 100); do mariadb -uroot -h127.0.0.1 -P%d -e 'CREATE DATABASE IF NOT EXISTS test' 2>/dev/null && exit 0; sleep 0.1; done; exit 1", p.Port))
	}
	p.stop = func() error {
		if cmd == nil || cmd.Process == nil {
			return nil
		}
		// SIGTERM: a clean shutdown that ends every connection.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		cmd = nil
		return nil
	}
	p.DSN = fmt.Sprintf("mysql://root@127.0.0.1:%d/test", p.Port)
	return nil
}

func (p *Private) initPostgres() error {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	initdb := ""
	if len(bins) > 0 {
		initdb = bins[len(bins)-1]
	} else if path, err := exec.LookPath("initdb"); err == nil {
		initdb = path
	} else {
		return fmt.Errorf("initdb not found")
	}
	pgctl := filepath.Join(filepath.Dir(initdb), "pg_ctl")
	data := filepath.Join(p.dir, "data")
	// PostgreSQL refuses to run as root: run it as the postgres user then.
	as := func(name string, args ...string) error { return run(name, args...) }
	if os.Geteuid() == 0 {
		pu, err := user.Lookup("postgres")
		if err != nil {
			return err
		}
		if err := run("chown", pu.Uid+":"+pu.Gid, p.dir); err != nil {
			return err
		}
		as = func(name string, args ...string) error {
			return run("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
		}
	}
	if err := as(initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"); err != nil {
		return err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB", p.Port, p.dir)
	p.start = func() error {
		if err := as(pgctl, "-D", data, "-o", opts, "-l", filepath.Join(p.dir, "log"), "-w", "start"); err != nil {
			return err
		}
		bin := filepath.Dir(initdb)
		return as("/bin/sh", "-c", fmt.Sprintf("%s/psql -h 127.0.0.1 -p %d -U postgres -d postgres -Atc \"SELECT 1 FROM pg_database WHERE datname='test'\" | grep -q 1 || %s/createdb -h 127.0.0.1 -p %d -U postgres test", bin, p.Port, bin, p.Port))
	}
	p.stop = func() error {
		if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err != nil {
			return nil
		}
		return as(pgctl, "-D", data, "-m", "fast", "-w", "stop")
	}
	p.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/test?sslmode=disable", p.Port)
	return nil
}
