// Command bench measures sqlfeed against the raw read limit of MariaDB/MySQL
// and PostgreSQL, and against a hand-written reference exporter, and writes
// docs/benchmarks.md with a plot (make bench).
//
// For every row count (BENCH_ROWS, comma-separated; default 1000000) and
// engine (BENCH_ENGINES) it loads the deterministic table bench_items once
// (LOAD DATA / COPY), then runs, five times each (BENCH_RUNS) and
// interleaved — raw read, sqlfeed → MinIO, reference, …, raw read, … —:
//
//	(a) raw read   the feed's query through the same driver, every column
//	               scanned as sql.RawBytes and discarded (a child process);
//	(b) MinIO      sqlfeed run --to s3://bench/… against a MinIO it starts;
//	(c) reference  bench/reference, what a user would write instead: a map
//	               of strings per row, encoding/json, the SDK's uploader;
//	(d) folder     the built sqlfeed binary: sqlfeed run --to file://DIR;
//	(e) MinIO gzip (b) with compress: gzip.
//
// BENCH_MODES restricts the modes. Every run is a child process: wall time
// from the parent, CPU time and peak RSS from the kernel's accounting of the
// child (getrusage). The report gives the medians and the spread (min–max),
// and a CPU profile of one export to MinIO grouped by area (profile_test.go).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

const (
	// childEnv set to 1 makes this program a raw read child (see rawReadArg).
	childEnv   = "SQLFEED_BENCH_CHILD"
	rawReadArg = "rawread"
)

// config is what one benchmark run measures and where it writes.
type config struct {
	Sizes           []int64
	Runs            int
	Modes           []string  // measured modes, in their interleaving order
	MySQL, Postgres string    // DSNs; empty: engine skipped
	MinIO           string    // MinIO server binary
	MinIOData       string    // parent of MinIO's data directory; empty: the temporary directory
	Out             string    // docs directory: benchmarks.md, benchmarks.png
	Command         string    // the command line quoted in the report
	NoMicro         bool      // skip the Go micro-benchmarks (smoke test)
	ProfileRows     int64     // rows of the profiled export; 0: no profile
	Note            string    // a paragraph put at the top of the report
	Rerendered      time.Time // set: the report is rewritten from benchmarks.json at this time
	Logf            func(string, ...any)
}

func main() {
	if os.Getenv(childEnv) == "1" {
		os.Exit(rawReadMain(os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := config{Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+f+"\n", a...) }}
	rows := flag.String("rows", envOr("BENCH_ROWS", "1000000"), "row counts, comma-separated (BENCH_ROWS)")
	runs := flag.String("runs", envOr("BENCH_RUNS", "5"), "runs per measurement, interleaved (BENCH_RUNS; the median is reported)")
	engines := flag.String("engines", envOr("BENCH_ENGINES", "mariadb,postgres"), "engines measured, comma-separated: mariadb, postgres (BENCH_ENGINES)")
	modeList := flag.String("modes", envOr("BENCH_MODES", strings.Join(modeKeys(allModes), ",")), "modes measured, comma-separated (BENCH_MODES)")
	flag.StringVar(&c.MySQL, "mysql", envOr("BENCH_MYSQL", "mysql://root@127.0.0.1:3306/test"), "MariaDB/MySQL DSN (empty: skip)")
	flag.StringVar(&c.Postgres, "postgres", envOr("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL DSN (empty: skip)")
	flag.StringVar(&c.Note, "note", os.Getenv("BENCH_NOTE"), "a paragraph put at the top of the report (BENCH_NOTE)")
	flag.Int64Var(&c.ProfileRows, "profile-rows", 1000000, "rows of the profiled MariaDB export to MinIO (0: no profile)")
	flag.StringVar(&c.MinIO, "minio", "", "MinIO binary (default $SQLFEED_MINIO or ~/.cache/sqlfeed/bin/minio)")
	flag.StringVar(&c.MinIOData, "minio-data", envOr("BENCH_MINIO_DATA", defaultMinIOData()), "parent directory of MinIO's data (BENCH_MINIO_DATA)")
	flag.StringVar(&c.Out, "out", "docs", "directory of benchmarks.md and benchmarks.png")
	micro := flag.Bool("micro", true, "also run the Go micro-benchmarks of exporters/encode")
	from := flag.String("rerender", "", "rewrite the report from the runs of this benchmarks.json (micro-benchmarks and profile run again)")
	flag.Parse()
	c.NoMicro = !*micro
	var err error
	if c.Sizes, err = parseSizes(*rows); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if c.Runs, err = strconv.Atoi(*runs); err != nil || c.Runs < 1 {
		fmt.Fprintf(os.Stderr, "bench: BENCH_RUNS: %q is not a positive count\n", *runs)
		os.Exit(2)
	}
	if c.Modes, err = parseModes(*modeList); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := restrictEngines(&c, *engines); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	c.Command = "make bench BENCH_ROWS=" + *rows
	for _, kv := range [][3]string{{"BENCH_ENGINES", *engines, "mariadb,postgres"}, {"BENCH_RUNS", *runs, "5"},
		{"BENCH_MODES", *modeList, strings.Join(modeKeys(allModes), ",")}} {
		if kv[1] != kv[2] {
			c.Command += " " + kv[0] + "=" + kv[1]
		}
	}
	run := run
	if *from != "" {
		run = func(ctx context.Context, c config) error { return rerender(ctx, c, *from) }
	}
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func parseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(f), "_", ""), 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("BENCH_ROWS: %q is not a positive row count", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// restrictEngines empties the DSN of every engine not in list.
func restrictEngines(c *config, list string) error {
	keep := map[string]bool{}
	for _, e := range strings.Split(list, ",") {
		switch e = strings.ToLower(strings.TrimSpace(e)); e {
		case "mariadb", "mysql":
			keep["mysql"] = true
		case "postgres", "postgresql":
			keep["postgres"] = true
		case "":
		default:
			return fmt.Errorf("BENCH_ENGINES: unknown engine %q (mariadb, postgres)", e)
		}
	}
	if !keep["mysql"] {
		c.MySQL = ""
	}
	if !keep["postgres"] {
		c.Postgres = ""
	}
	return nil
}

// rawReadMain is the raw read child: args DSN QUERY; prints "rows bytes".
func rawReadMain(args []string) int {
	if len(args) != 3 || args[0] != rawReadArg {
		fmt.Fprintln(os.Stderr, "usage: rawread DSN QUERY")
		return 2
	}
	rows, n, err := rawRead(context.Background(), args[1], args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawread:", err)
		return 1
	}
	fmt.Println(rows, n)
	return 0
}

// result is the median of one measurement.
type result struct {
	Engine string
	Mode   string
	Size   int64
	sample
}

func run(ctx context.Context, c config) error {
	work, err := os.MkdirTemp("", "sqlfeed-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if len(c.Modes) == 0 {
		c.Modes = allModes
	}
	r := &runner{work: work, sqlfeed: filepath.Join(work, "sqlfeed"), reference: filepath.Join(work, "reference")}
	for _, b := range [][2]string{{r.sqlfeed, "./cmd/sqlfeed"}, {r.reference, "./bench/reference"}} {
		c.Logf("building %s", b[1])
		build := exec.CommandContext(ctx, "go", "build", "-o", b[0], b[1])
		build.Dir = moduleRoot()
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", b[1], err, out)
		}
	}
	if r.self, err = os.Executable(); err != nil {
		return err
	}
	bin := c.MinIO
	if bin == "" {
		if bin, err = testsvc.MinIOBinary(); err != nil {
			return fmt.Errorf("MinIO binary: %w (scripts/minio.sh builds it)", err)
		}
	}
	data := filepath.Join(work, "minio-data")
	if c.MinIOData != "" {
		if data, err = os.MkdirTemp(c.MinIOData, "sqlfeed-bench-minio-"); err != nil {
			return err
		}
		defer os.RemoveAll(data)
	}
	if r.minio, err = startMinIO(ctx, bin, work, data); err != nil {
		return err
	}
	defer r.minio.stop()

	engines := []struct{ name, dsn string }{{"MariaDB", c.MySQL}, {"PostgreSQL", c.Postgres}}
	maxN := int64(0)
	for _, n := range c.Sizes {
		maxN = max(maxN, n)
	}
	facts := append(machineFacts(ctx, bin), [2]string{"sqlfeed", gitCommit(ctx)})
	var results []result
	var all []result // every run, for benchmarks.json
	for _, e := range engines {
		if e.dsn == "" {
			continue
		}
		facts = append(facts, [2]string{e.name, serverVersion(ctx, e.dsn)})
		if err := ensureTable(ctx, e.dsn, maxN, c.Logf); err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		for _, n := range c.Sizes {
			samples := map[string][]sample{}
			for i := range c.Runs {
				for _, m := range c.Modes {
					s, err := r.measure(ctx, m, e.dsn, n, i)
					if err != nil {
						return fmt.Errorf("%s %s %d rows: %w", e.name, m, n, err)
					}
					if s.Rows != n {
						return fmt.Errorf("%s %s: %d rows, want %d", e.name, m, s.Rows, n)
					}
					c.Logf("%s %-22s %9d rows  run %d: %6.2fs wall %6.2fs CPU %6.1f MiB  %8.0f rows/s",
						e.name, m, n, i+1, s.Wall.Seconds(), s.CPU.Seconds(), float64(s.MaxRSS)/(1<<20), float64(n)/s.Wall.Seconds())
					samples[m] = append(samples[m], s)
					all = append(all, result{Engine: e.name, Mode: m, Size: n, sample: s})
				}
			}
			for _, m := range c.Modes {
				results = append(results, result{Engine: e.name, Mode: m, Size: n, sample: median(samples[m])})
			}
		}
	}
	if len(results) == 0 {
		return errors.New("no engine to measure (both DSNs empty)")
	}
	return finish(ctx, c, work, facts, results, all, time.Now().UTC())
}

// finish runs the micro-benchmarks and the profile and writes the report,
// the plot and benchmarks.json.
func finish(ctx context.Context, c config, work string, facts [][2]string, results, all []result, at time.Time) error {
	var err error
	var micro string
	if !c.NoMicro {
		c.Logf("micro-benchmarks: %s", strings.Join(microCmd, " "))
		mc := exec.CommandContext(ctx, microCmd[0], microCmd[1:]...)
		mc.Dir = moduleRoot()
		out, err := mc.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(microCmd, " "), err, out)
		}
		micro = string(out)
	}
	var prof *profile
	if c.ProfileRows > 0 && c.MySQL != "" {
		if prof, err = runProfile(ctx, c, work); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return err
	}
	if err := plotResults(filepath.Join(c.Out, "benchmarks.png"), results); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	js, err := json.MarshalIndent(stored{Command: c.Command, Note: c.Note, At: at, Machine: facts, Runs: all}, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.Out, "benchmarks.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	md := report(c, facts, results, all, micro, prof, at)
	if err := os.WriteFile(filepath.Join(c.Out, "benchmarks.md"), []byte(md), 0o644); err != nil {
		return err
	}
	c.Logf("wrote %s and %s", filepath.Join(c.Out, "benchmarks.md"), filepath.Join(c.Out, "benchmarks.png"))
	return nil
}

// stored is benchmarks.json: every run's figures and what they were measured
// on and with.
type stored struct {
	Command string      `json:"command"`
	Note    string      `json:"note,omitempty"`
	At      time.Time   `json:"measured_at"`
	Machine [][2]string `json:"machine"`
	Runs    []result    `json:"runs"`
}

// rerender rewrites the report and the plot from the runs of a
// benchmarks.json (with the micro-benchmarks and the profile run afresh), so
// that a change to the report does not need the runs again. The runs' time is
// the file's measured_at, or its modification time.
func rerender(ctx context.Context, c config, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var st stored
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(st.Runs) == 0 {
		return fmt.Errorf("%s: no runs", path)
	}
	if st.At.IsZero() {
		if fi, err := os.Stat(path); err == nil {
			st.At = fi.ModTime().UTC()
		}
	}
	c.Command = st.Command
	if c.Note == "" {
		c.Note = st.Note
	}
	results, modes, sizes, runs := mediansOf(st.Runs)
	c.Modes, c.Sizes, c.Runs = modes, sizes, runs
	c.Rerendered = time.Now().UTC()
	work, err := os.MkdirTemp("", "sqlfeed-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	return finish(ctx, c, work, st.Machine, results, st.Runs, st.At)
}

// mediansOf groups runs by engine, size and mode (in their order of
// appearance) and returns the medians, the modes, the sizes and the largest
// number of runs of one group.
func mediansOf(all []result) (results []result, modes []string, sizes []int64, runs int) {
	type key struct {
		engine, mode string
		size         int64
	}
	var order []key
	groups := map[key][]sample{}
	for _, r := range all {
		k := key{r.Engine, r.Mode, r.Size}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r.sample)
		if !slices.Contains(modes, r.Mode) {
			modes = append(modes, r.Mode)
		}
		if !slices.Contains(sizes, r.Size) {
			sizes = append(sizes, r.Size)
		}
	}
	for _, k := range order {
		results = append(results, result{Engine: k.engine, Mode: k.mode, Size: k.size, sample: median(groups[k])})
		runs = max(runs, len(groups[k]))
	}
	return results, modes, sizes, runs
}

// defaultMinIOData is /dev/shm when there is one: MinIO writes every object
// with O_DIRECT and syncs it, so on a disk the figures would measure the disk
// rather than sqlfeed.
func defaultMinIOData() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return ""
}

// microCmd runs the encoder and mapper micro-benchmarks (their figures go
// into the report).
var microCmd = []string{"go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "6", "./exporters/encode/"}

// gitCommit names the measured commit (and whether the tree had changes).
func gitCommit(ctx context.Context) string {
	cmd := exec.CommandContext(ctx, "git", "log", "-1", "--format=%h %s")
	cmd.Dir = moduleRoot()
	out, err := cmd.Output()
	if err != nil {
		return "?"
	}
	s := strings.TrimSpace(string(out))
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	st := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no")
	st.Dir = moduleRoot()
	if out, err := st.Output(); err == nil && len(out) > 0 {
		s += " (with uncommitted changes)"
	}
	return "`" + strings.ReplaceAll(s, "|", "\\|") + "`"
}

// moduleRoot is the directory of go.mod (go run and go test run in the
// module, possibly in a subdirectory).
func moduleRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "."
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}
