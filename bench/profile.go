package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// profileCmd profiles one export to MinIO in-process (BenchmarkExportMinIO
// in profile_test.go); the profile is read with pprofCmd.
var profileCmd = []string{"go", "test", "-run", "^$", "-bench", "^BenchmarkExportMinIO$", "-benchtime", "1x", "-count", "1"}

// profile is the CPU profile of one export, grouped by area.
type profile struct {
	Rows    int64
	Command string // how to reproduce it
	Total   time.Duration
	Areas   []areaTime
	Top     string // the head of pprof -top
}

type areaTime struct {
	Area string
	T    time.Duration
}

// runProfile runs BenchmarkExportMinIO under -cpuprofile on min(ProfileRows,
// the largest row count) MariaDB rows and groups the samples by area.
func runProfile(ctx context.Context, c config, work string) (*profile, error) {
	n := min(c.ProfileRows, maxSize(c.Sizes))
	out := filepath.Join(work, "cpu.out")
	args := append(append([]string{}, profileCmd[1:]...), "-cpuprofile", out, "-o", filepath.Join(work, "bench.test"), "./bench/")
	cmd := exec.CommandContext(ctx, profileCmd[0], args...)
	cmd.Dir = moduleRoot()
	cmd.Env = append(os.Environ(), "BENCH_PROFILE_ROWS="+strconv.FormatInt(n, 10), "BENCH_MYSQL="+c.MySQL)
	if c.MinIO != "" {
		cmd.Env = append(cmd.Env, "SQLFEED_MINIO="+c.MinIO)
	}
	c.Logf("profile: %s (%d rows)", strings.Join(cmd.Args, " "), n)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail(string(b), 3000))
	}
	traces, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-traces", out).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof -traces: %w", err)
	}
	top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=25", "-tagfocus=phase=export", out).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof -top: %w", err)
	}
	p := &profile{Rows: n, Top: pprofTop(string(top)),
		Command: fmt.Sprintf("BENCH_PROFILE_ROWS=%d %s -cpuprofile cpu.out ./bench/ && go tool pprof -top -tagfocus=phase=export cpu.out", n,
			shellJoin(profileCmd))}
	p.Areas, p.Total, err = cpuAreas(string(traces))
	return p, err
}

func maxSize(s []int64) int64 {
	var m int64
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "^$ *") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// pprofTop drops the header lines of pprof -top before "Showing nodes".
func pprofTop(s string) string {
	if i := strings.Index(s, "Showing nodes"); i >= 0 {
		return strings.TrimSpace(s[i:])
	}
	return strings.TrimSpace(s)
}

// areas classify a CPU sample by the frames of its stack, from the leaf
// towards the root: the first frame that matches an area's pattern names the
// sample's area. Runtime frames that belong to no area (malloc, scheduling,
// syscalls, memmove) are passed over, so their time goes to the area that
// called them; a stack with no matching frame is "other".
var areas = []struct {
	name string
	re   *regexp.Regexp
}{
	{"GC (mark, sweep, scavenge, assists)", regexp.MustCompile(`^runtime\.(gc[A-Z]\w*|gcBgMarkWorker|gcDrain\w*|scanobject|scanblock|scanstack|scanframeworker|markroot\w*|greyobject|findObject|wbBuf\w*|bgsweep|bgscavenge|sweepone|markBits\w*|(\(\*mspan\)|\(\*gcWork\)|\(\*mheap\)|\(\*pageAlloc\)|\(\*scavengerState\)|\(\*sweepLocked\))\.\w+)$`)},
	{areaSHA256, regexp.MustCompile(`^crypto/(sha256|internal/fips140/sha256)\.`)},
	{"gzip", regexp.MustCompile(`^compress/`)},
	{areaHTTP, regexp.MustCompile(`^(net/http|crypto/|github\.com/aws/|vendor/golang\.org/x/net/http|github\.com/sqlfeed/sqlfeed/infra/blob)`)},
	{"driver / scan (go-sql-driver, database/sql, infra/db)", regexp.MustCompile(`^(github\.com/go-sql-driver/|github\.com/jackc/|database/sql|github\.com/sqlfeed/sqlfeed/infra/db)`)},
	{"json columns: validate + compact (goccy/go-json)", regexp.MustCompile(`^github\.com/goccy/go-json`)},
	{"mapping + value encoding (transform: each value to JSON text)", regexp.MustCompile(`^github\.com/sqlfeed/sqlfeed/transform`)},
	{"JSON document writer (exporters/encode: buffers, async writer)", regexp.MustCompile(`^github\.com/sqlfeed/sqlfeed/exporters/encode`)},
	{"export loop, publish (exporters)", regexp.MustCompile(`^github\.com/sqlfeed/sqlfeed/exporters`)},
	{"bench setup (MinIO start, table check)", regexp.MustCompile(`^(github\.com/sqlfeed/sqlfeed/bench|testing\.)`)},
}

const (
	areaSHA256 = "sha256 of the document (exporters/encode)"
	areaHTTP   = "HTTP upload (AWS SDK, net/http, SigV4, checksums, infra/blob)"
)

// notRuntime tells a frame outside the Go runtime.
func notRuntime(fn string) bool {
	return !strings.HasPrefix(fn, "runtime.") && !strings.HasPrefix(fn, "internal/runtime/")
}

var awsFrame = regexp.MustCompile(`^github\.com/aws/`)

// otherArea is where a stack that matches no area goes.
const otherArea = "other (runtime scheduler, syscalls without a caller above)"

// cpuAreas sums the samples of go tool pprof -traces output by area, in the
// order of areas, with total the sum of the samples counted: those labelled
// phase:export (the export's goroutines) and the unlabelled ones of the
// runtime alone (background GC workers, the scheduler), which carry no
// goroutine's labels. Other unlabelled samples are the benchmark's setup.
func cpuAreas(traces string) ([]areaTime, time.Duration, error) {
	sums := map[string]time.Duration{}
	var total, cur time.Duration
	var frames []string
	inTrace, export := false, false
	flush := func() {
		if inTrace && cur > 0 && (export || !slices.ContainsFunc(frames, notRuntime)) {
			sums[classify(frames)] += cur
			total += cur
		}
		inTrace, export, frames, cur = false, false, frames[:0], 0
	}
	sc := bufio.NewScanner(strings.NewReader(traces))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			flush()
			inTrace = true
			continue
		}
		f := strings.Fields(line)
		if !inTrace || len(f) == 0 {
			continue
		}
		if cur == 0 {
			d, err := time.ParseDuration(f[0])
			if err != nil || len(f) < 2 {
				if strings.Contains(line, ":") { // a label line (key: value)
					export = export || (f[0] == "phase:" && slices.Contains(f, "export"))
					continue
				}
				return nil, 0, fmt.Errorf("pprof -traces: unexpected line %q", line)
			}
			cur, f = d, f[1:]
		}
		frames = append(frames, f[0])
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	var out []areaTime
	for _, a := range areas {
		if sums[a.name] > 0 {
			out = append(out, areaTime{a.name, sums[a.name]})
		}
	}
	if sums[otherArea] > 0 {
		out = append(out, areaTime{otherArea, sums[otherArea]})
	}
	return out, total, nil
}

// classify returns the area of a stack, leaf first: the first frame that
// matches an area's pattern. A hash (sha256, CRC32) computed by the AWS SDK is
// the upload's (SigV4 payload hash, request checksums), not sqlfeed's.
func classify(frames []string) string {
	for _, fn := range frames {
		for _, a := range areas {
			if !a.re.MatchString(fn) {
				continue
			}
			if a.name == areaSHA256 && slices.ContainsFunc(frames, awsFrame.MatchString) {
				return areaHTTP
			}
			return a.name
		}
	}
	return otherArea
}
