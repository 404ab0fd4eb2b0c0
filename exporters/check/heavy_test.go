package check_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/exporters/check"
	"github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
	"github.com/sqlfeed/sqlfeed/transform"
)

// heavyRows documents of about 200 bytes: a feed of about 40 MB.
const heavyRows = 200000

const heavyConfig = `version: 1
feeds:
  - name: big
    schedule: rate(1 hour)
    query: |
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
      SELECT i AS Id, printf('document %%d %%s', i, hex(zeroblob(80))) AS Name FROM n
    fields: {id: Id, name: Name}
`

const childEnv = "SQLFEED_CHECK_CHILD_URL"

// TestHeavyCheckMemory checks a 200,000-document feed (~40 MB) in a child
// process, over file:// and over HTTP (sqlfeed serve's handler), and
// requires the child's peak RSS to stay under 64 MiB.
func TestHeavyCheckMemory(t *testing.T) {
	if u := os.Getenv(childEnv); u != "" {
		rep, err := check.Run(context.Background(), u, check.Options{})
		if err != nil || !rep.OK {
			fmt.Printf("check %s: %v %q\n", u, err, rep.Lines())
			os.Exit(1)
		}
		fmt.Printf("checked %s: %d rows %d bytes\n", u, rep.Feeds[0].Rows, rep.Feeds[0].Bytes)
		os.Exit(0)
	}
	testsvc.Heavy(t)
	ctx := context.Background()
	dir := t.TempDir()
	store, err := fileblob.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("heavy.yaml", []byte(fmt.Sprintf(heavyConfig, heavyRows)), transform.Default)
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(ctx, "sqlite://../../testdata/chinook.db", db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := &exporters.Runner{Config: cfg, DB: d, Store: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	res, err := r.Run(ctx, exporters.Request{})
	if err != nil || res[0].Status != exporters.StatusSuccess || res[0].Rows != heavyRows {
		t.Fatalf("publish: %v %+v", err, res)
	}
	if res[0].Bytes < 38e6 {
		t.Fatalf("feed is %d bytes, want about 40 MB", res[0].Bytes)
	}
	srv := httptest.NewServer(fileblob.Handler(store))
	defer srv.Close()

	for _, u := range []string{"file://" + dir, srv.URL + "/"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHeavyCheckMemory$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+u)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), fmt.Sprintf("checked %s: %d rows", u, heavyRows)) {
			t.Fatalf("child check of %s: %v\n%s", u, err, out)
		}
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
		t.Logf("check %s of %d documents, %.1f MB: peak RSS %.1f MiB", u, heavyRows, float64(res[0].Bytes)/1e6, float64(rss)/(1<<20))
		if rss >= 64<<20 {
			t.Errorf("check %s: peak RSS %.1f MiB, want < 64 MiB", u, float64(rss)/(1<<20))
		}
	}
}
