// Command shards measures sharded exports (issue 14, README "Sharded
// feeds"): rows/s of --workers 1, 2 and 4 on a table of BENCH_ROWS rows
// (default 5,000,000) in pages of 10,000, the overhead of sharding against
// the unsharded export, and the planner's balance (largest shard's rows ÷
// mean) from MIN/MAX and from the page index, also on a key with big gaps.
// It writes docs/sharding-bench.md.
//
//	go run ./bench/shards [-rows 5000000] [-skew-rows 2000000] [-dsn mysql://root@127.0.0.1:3306/test]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/transform"
)

func main() {
	rows := flag.Int64("rows", 5_000_000, "rows of the bench table (0: skip it)")
	skewRows := flag.Int64("skew-rows", 2_000_000, "rows of the skewed-key table (0: skip it)")
	dsn := flag.String("dsn", "mysql://root@127.0.0.1:3306/test", "MariaDB DSN")
	out := flag.String("out", "docs/sharding-bench.md", "report")
	runs := flag.Int("runs", 3, "runs per measurement (the median is reported; the first run of a fresh store counts once)")
	flag.Parse()
	if err := run(context.Background(), *dsn, *rows, *skewRows, *runs, *out); err != nil {
		fmt.Fprintln(os.Stderr, "shards bench:", err)
		os.Exit(1)
	}
}

const feedYAML = `version: 1
feeds:
  - name: %s
    query: SELECT id, name, qty, price, at FROM %s ORDER BY id
    fields: {id: id, name: name, qty: qty, price: price, at: at}
    pages: {by: id, rows: 10000}%s
`

// load creates table name with n rows; skew puts the last fifth of the ids
// far apart (gaps of 1000 after a jump of 10^12).
func load(ctx context.Context, dsn string, name string, n int64, skew bool) error {
	d, err := db.Open(ctx, dsn, db.Options{}) // its own pool: the export's sessions are read-only
	if err != nil {
		return err
	}
	defer d.Close()
	var have int64
	if err := d.X.GetContext(ctx, &have, "SELECT COUNT(*) FROM "+name); err == nil && have == n {
		return nil
	}
	id := "seq"
	if skew {
		id = fmt.Sprintf("IF(seq <= %d, seq, 1000000000000 + seq * 1000)", n*4/5)
	}
	for _, q := range []string{
		"DROP TABLE IF EXISTS " + name,
		"CREATE TABLE " + name + " (id BIGINT PRIMARY KEY, name VARCHAR(40) NOT NULL, qty INT NOT NULL, price DECIMAL(10,2) NOT NULL, at DATETIME NOT NULL)",
		fmt.Sprintf(`INSERT INTO %s SELECT %s, CONCAT('item ', seq), seq %% 1000, (seq %% 100000) / 100, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_%d`, name, id, n),
	} {
		if _, err := d.X.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q[:min(len(q), 60)], err)
		}
	}
	return nil
}

type measure struct {
	label            string
	seconds, rowsSec float64
	planMS           int64
	balance          float64
	source           string
	rows             int64
}

func run(ctx context.Context, dsn string, rows, skewRows int64, runs int, out string) error {
	d, err := db.Open(ctx, dsn, db.Options{MaxConns: 4})
	if err != nil {
		return err
	}
	defer d.Close()
	var report strings.Builder
	fmt.Fprintf(&report, "# Sharded exports (issue 14)\n\n`go run ./bench/shards -rows %d -skew-rows %d -runs %d` on %s, %d CPUs (the database and other jobs share them), %s, to a local folder; wall time is the median of the runs.\n\n",
		rows, skewRows, runs, "MariaDB", runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"))
	for _, tbl := range []struct {
		name string
		n    int64
		skew bool
	}{{"shard_bench", rows, false}, {"shard_skew", skewRows, true}} {
		if tbl.n == 0 {
			continue
		}
		if err := load(ctx, dsn, tbl.name, tbl.n, tbl.skew); err != nil {
			return err
		}
		ms, err := bench(ctx, d, tbl.name, runs)
		if err != nil {
			return err
		}
		fmt.Fprintf(&report, "## %s: %d rows%s, pages of 10,000\n\n| run | wall s | rows/s | plan ms | plan from | largest shard ÷ mean |\n|---|---|---|---|---|---|\n",
			tbl.name, tbl.n, map[bool]string{true: " (ids with a jump and gaps)", false: ""}[tbl.skew])
		for _, m := range ms {
			fmt.Fprintf(&report, "| %s | %.1f | %.0f | %d | %s | %s |\n", m.label, m.seconds, m.rowsSec, m.planMS, m.source, bal(m.balance))
			fmt.Fprintf(os.Stderr, "%s %s: %.1fs %.0f rows/s plan %dms %s %.2f\n", tbl.name, m.label, m.seconds, m.rowsSec, m.planMS, m.source, m.balance)
		}
		base := ms[0].seconds
		for _, m := range ms[1:] {
			if m.label == "4 shards, --workers 1" {
				fmt.Fprintf(&report, "\nOverhead of 4 shards at --workers 1 (same work, one at a time): %+.1f %% of the unsharded export's wall time.\n", 100*(m.seconds-base)/base)
			}
		}
		report.WriteString("\n")
	}
	if err := os.WriteFile(out, []byte(report.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(report.String())
	return nil
}

func feedName(table string) string { return strings.ReplaceAll(table, "_", "-") }

func bal(b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", b)
}

// bench exports table once unsharded (publishing the page index) and then
// measures, on the same store (every page already stored, so no run
// uploads; the unsharded baseline is measured the same way): unsharded, 4
// shards at --workers 1, 2, 4; and on a fresh store the MIN/MAX plan.
func bench(ctx context.Context, d *db.DB, table string, runs int) ([]measure, error) {
	dir, err := os.MkdirTemp("", "sqlfeed-shards-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	runner := func(store string, shards int, workers int) (*exporters.Runner, string, error) {
		s := ""
		if shards > 0 {
			s = fmt.Sprintf("\n    shards: %d", shards)
		}
		cfg, err := config.Parse("bench.yaml", []byte(fmt.Sprintf(feedYAML, feedName(table), table, s)), transform.Default)
		if err != nil {
			return nil, "", err
		}
		st, err := fileblob.Open(filepath.Join(dir, store))
		if err != nil {
			return nil, "", err
		}
		stateDir := filepath.Join(dir, store+"-state", fmt.Sprint(time.Now().UnixNano()))
		state, err := fileblob.Open(stateDir)
		if err != nil {
			return nil, "", err
		}
		return &exporters.Runner{Config: cfg, DB: d, Store: st, State: state, Workers: workers,
			Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}, stateDir, nil
	}
	once := func(r *exporters.Runner) (float64, int64, error) {
		var secs []float64
		var n int64
		for range runs {
			start := time.Now()
			res, err := r.Run(ctx, exporters.Request{})
			if err != nil {
				return 0, 0, err
			}
			if s := res[0].Status; s != exporters.StatusSuccess && s != exporters.StatusUnchanged {
				return 0, 0, fmt.Errorf("%s: %s", s, res[0].Message)
			}
			secs, n = append(secs, time.Since(start).Seconds()), res[0].Rows
		}
		slices.Sort(secs)
		return secs[len(secs)/2], n, nil
	}
	var ms []measure
	r, _, err := runner("main", 0, 1)
	if err != nil {
		return nil, err
	}
	if _, err := r.Run(ctx, exporters.Request{}); err != nil { // publishes the pages and the index
		return nil, err
	}
	secs, n, err := once(r)
	if err != nil {
		return nil, err
	}
	ms = append(ms, measure{label: "unsharded", seconds: secs, rowsSec: float64(n) / secs, rows: n})
	for _, w := range []int{1, 2, 4} {
		r, state, err := runner("main", 4, w)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		p, err := r.Plan(ctx, feedName(table), time.Time{}, exporters.PlanOptions{})
		if err != nil {
			return nil, err
		}
		planMS := time.Since(start).Milliseconds()
		secs, n, err := once(r)
		if err != nil {
			return nil, err
		}
		b, err := balance(state, feedName(table))
		if err != nil {
			return nil, err
		}
		ms = append(ms, measure{label: fmt.Sprintf("4 shards, --workers %d", w), seconds: secs, rowsSec: float64(n) / secs,
			planMS: planMS, source: p.Source, balance: b, rows: n})
	}
	// The first run of a sharded feed: MIN/MAX of the key.
	r, state, err := runner("fresh", 4, 4)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	p, err := r.Plan(ctx, feedName(table), time.Time{}, exporters.PlanOptions{})
	if err != nil {
		return nil, err
	}
	planMS := time.Since(start).Milliseconds()
	start = time.Now() // once: a later run would find the pages stored
	res, err := r.Run(ctx, exporters.Request{})
	if err != nil || res[0].Status != exporters.StatusSuccess {
		return nil, fmt.Errorf("first sharded run: %v %+v", err, res)
	}
	secs, n = time.Since(start).Seconds(), res[0].Rows
	b, err := balance(state, feedName(table))
	if err != nil {
		return nil, err
	}
	ms = append(ms, measure{label: "4 shards, --workers 4, first run (uploads)", seconds: secs, rowsSec: float64(n) / secs,
		planMS: planMS, source: p.Source, balance: b, rows: n})
	return ms, nil
}

// balance is the largest shard's rows ÷ the mean, over the last run's shard
// results in the state folder (the run with the most recent plan).
func balance(state, feed string) (float64, error) {
	plans, _ := filepath.Glob(filepath.Join(state, feed, "*", "plan.json"))
	var newest string
	var at time.Time
	for _, p := range plans {
		if fi, err := os.Stat(p); err == nil && fi.ModTime().After(at) {
			newest, at = filepath.Dir(p), fi.ModTime()
		}
	}
	files, _ := filepath.Glob(filepath.Join(newest, "shard-*.json"))
	if len(files) == 0 {
		return 0, nil
	}
	var most, sum int64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		var s struct {
			Rows int64 `json:"rows"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, err
		}
		most, sum = max(most, s.Rows), sum+s.Rows
	}
	return float64(most) / (float64(sum) / float64(len(files))), nil
}
