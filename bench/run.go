package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/go-sql-driver/mysql"

	"github.com/sqlfeed/sqlfeed/infra/blob/s3blob"
	"github.com/sqlfeed/sqlfeed/infra/db"
)

// Modes measured per engine.
const (
	modeRaw       = "raw read"
	modeMinIO     = "sqlfeed → MinIO"
	modeReference = "reference → MinIO"
	modeFolder    = "sqlfeed → folder"
	modeGzip      = "sqlfeed → MinIO gzip"
	modePaged     = "sqlfeed → MinIO paged"
	// modeRepage re-exports a paged feed (published, unmeasured, just
	// before) after one row changed: sample.Objects counts what it wrote.
	modeRepage = "paged re-export, 1 row changed"
)

// benchPageRows is the pages' rows of the paged modes.
const benchPageRows = 10000

// allModes are the modes in the order each run interleaves them.
var allModes = []string{modeRaw, modeMinIO, modeReference, modeFolder, modeGzip, modePaged, modeRepage}

// modeKey is the short name of each mode in BENCH_MODES.
var modeKey = map[string]string{modeRaw: "raw", modeMinIO: "minio", modeReference: "reference",
	modeFolder: "folder", modeGzip: "gzip", modePaged: "paged", modeRepage: "repage"}

func modeKeys(ms []string) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = modeKey[m]
	}
	return out
}

// parseModes returns the modes named in list (BENCH_MODES), in the order of
// allModes. The raw read is always measured: every ratio is to it.
func parseModes(list string) ([]string, error) {
	want := map[string]bool{modeRaw: true}
	for _, k := range strings.Split(list, ",") {
		k = strings.ToLower(strings.TrimSpace(k))
		found := k == ""
		for m, mk := range modeKey {
			if mk == k {
				want[m], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("BENCH_MODES: unknown mode %q (%s)", k, strings.Join(modeKeys(allModes), ", "))
		}
	}
	var out []string
	for _, m := range allModes {
		if want[m] {
			out = append(out, m)
		}
	}
	return out, nil
}

// sample is one child process run.
type sample struct {
	Rows   int64
	Bytes  int64 // JSON bytes written (uncompressed); raw read: column bytes
	Wall   time.Duration
	CPU    time.Duration // user + system
	MaxRSS int64         // bytes
	// MinIOCPU, DBCPU and Machine are the CPU time MinIO, the database server
	// and the whole machine (every process: databases, MinIO, sqlfeed,
	// anything else) used during the run.
	MinIOCPU, DBCPU, Machine time.Duration
	// Objects is the objects a run created or rewrote (modeRepage).
	Objects int64 `json:",omitempty"`
}

// timeBin is GNU time, used to measure children when present: a child that
// Go starts shares the parent's memory until it execs (vfork), and Linux
// carries that high-water mark into the child's ru_maxrss, so the parent's
// own RSS would be a floor of every figure. GNU time forks a copy of itself
// (a few hundred KiB) before the exec instead.
const timeBin = "/usr/bin/time"

// child runs cmd and measures it: wall time from the parent, CPU time (user +
// system) and peak RSS from the kernel's accounting of the child (getrusage,
// through GNU time when it is installed).
func child(cmd *exec.Cmd, work string) (sample, []byte, error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	var timeOut string
	if _, err := os.Stat(timeBin); err == nil {
		timeOut = filepath.Join(work, "time.out")
		cmd.Args = append([]string{timeBin, "-f", "%U %S %M", "-o", timeOut, "--", cmd.Path}, cmd.Args[1:]...)
		cmd.Path = timeBin
	}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, nil, fmt.Errorf("%s: %w\n%s%s", strings.Join(cmd.Args, " "), err, out.String(), tail(errb.String(), 2000))
	}
	if timeOut != "" {
		b, err := os.ReadFile(timeOut)
		if err != nil {
			return sample{}, nil, err
		}
		var u, s float64
		var kb int64
		if _, err := fmt.Sscan(string(b), &u, &s, &kb); err != nil {
			return sample{}, nil, fmt.Errorf("%s printed %q: %w", timeBin, b, err)
		}
		return sample{Wall: wall, CPU: time.Duration((u + s) * float64(time.Second)), MaxRSS: kb * 1024}, out.Bytes(), nil
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return sample{}, nil, errors.New("no rusage for the child")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return sample{Wall: wall, CPU: cpu, MaxRSS: ru.Maxrss * 1024}, out.Bytes(), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// feedConfig is the sqlfeed.yaml of the measured feed: the fields mapper over
// every column, a nested key, and the overrides that make MariaDB's TINYINT
// and JSON-as-LONGTEXT publish as Postgres' boolean and json do.
func feedConfig(n int64, compress string) string { return pagedFeedConfig(benchQuery(n), compress, 0) }

// pagedFeedConfig is feedConfig for query, in pages of pageRows when it is
// not 0.
func pagedFeedConfig(query, compress string, pageRows int) string {
	pages := ""
	if pageRows > 0 {
		pages = fmt.Sprintf("\n    pages: {by: id, rows: %d}", pageRows)
	}
	return fmt.Sprintf(`version: 1
feeds:
  - name: bench
    query: %s
    fields:
      id: id
      name: name
      price: price
      stock.qty: qty
      score: score
      active: {column: active, type: bool}
      created: created
      note: note
      meta: {column: meta, type: json}
    format: json
    compress: %s%s
`, query, compress, pages)
}

// runner holds what the measurements need.
type runner struct {
	sqlfeed   string // built binary
	reference string // built bench/reference
	self      string // this program (raw read child)
	work      string // temporary directory
	minio     *minio
}

// measure runs mode once for n rows of the engine at dsn, and accounts the
// CPU time of MinIO and of the whole machine meanwhile.
func (r *runner) measure(ctx context.Context, mode, dsn string, n int64, run int) (sample, error) {
	pid := dbServerPID(dsn)
	m0, c0, d0 := machineCPU(), r.minio.cpu(), dbServerCPU(pid)
	s, err := r.measure1(ctx, mode, dsn, n, run)
	time.Sleep(50 * time.Millisecond) // PostgreSQL: the run's backend has ended and been reaped (its time is in cutime)
	s.Machine, s.MinIOCPU, s.DBCPU = machineCPU()-m0, r.minio.cpu()-c0, dbServerCPU(pid)-d0
	return s, err
}

// clockTick is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTick = 100

// machineCPU returns the busy CPU time of the machine since boot (/proc/stat:
// all but idle and iowait), or 0 where there is no /proc.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest times are in user already
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / clockTick
}

func (r *runner) measure1(ctx context.Context, mode, dsn string, n int64, run int) (sample, error) {
	if mode == modeRaw {
		cmd := exec.CommandContext(ctx, r.self, rawReadArg, dsn, benchQuery(n))
		cmd.Env = append(os.Environ(), childEnv+"=1")
		s, out, err := child(cmd, r.work)
		if err != nil {
			return s, err
		}
		f := strings.Fields(string(out))
		if len(f) != 2 {
			return s, fmt.Errorf("raw read printed %q", out)
		}
		s.Rows, _ = strconv.ParseInt(f[0], 10, 64)
		s.Bytes, _ = strconv.ParseInt(f[1], 10, 64)
		return s, nil
	}
	if mode == modeReference {
		return r.measureReference(ctx, dsn, n, run)
	}
	compress := "none"
	if mode == modeGzip {
		compress = "gzip"
	}
	pageRows := 0
	if mode == modePaged || mode == modeRepage {
		pageRows = benchPageRows
	}
	cfg := filepath.Join(r.work, fmt.Sprintf("bench-%s-%d.yaml", compress, pageRows))
	if err := os.WriteFile(cfg, []byte(pagedFeedConfig(benchQuery(n), compress, pageRows)), 0o644); err != nil {
		return sample{}, err
	}
	var to string
	env := os.Environ()
	switch mode {
	case modeFolder:
		dir := filepath.Join(r.work, fmt.Sprintf("out-%d", run))
		defer os.RemoveAll(dir)
		to = "file://" + dir
	default:
		prefix := fmt.Sprintf("run-%d", run)
		defer r.minio.empty(context.WithoutCancel(ctx), prefix)
		to = "s3://" + r.minio.bucket + "/" + prefix
		env = append(env, r.minio.env()...)
	}
	var before map[string]string
	if mode == modeRepage {
		// The first export, unmeasured; then the same feed with one row's price changed.
		first := exec.CommandContext(ctx, r.sqlfeed, "run", "--config", cfg, "--db", dsn, "--to", to, "--json")
		first.Env = env
		if _, _, err := child(first, r.work); err != nil {
			return sample{}, err
		}
		changed := strings.Replace(benchQuery(n), "price,", fmt.Sprintf("CASE WHEN id = %d THEN price + 1 ELSE price END AS price,", n/2+1), 1)
		if err := os.WriteFile(cfg, []byte(pagedFeedConfig(changed, compress, pageRows)), 0o644); err != nil {
			return sample{}, err
		}
		var err error
		if before, err = r.minio.objects(ctx); err != nil {
			return sample{}, err
		}
	}
	cmd := exec.CommandContext(ctx, r.sqlfeed, "run", "--config", cfg, "--db", dsn, "--to", to, "--json")
	cmd.Env = env
	s, out, err := child(cmd, r.work)
	if err != nil {
		return s, err
	}
	if before != nil {
		after, err := r.minio.objects(ctx)
		if err != nil {
			return s, err
		}
		for k, etag := range after {
			if before[k] != etag {
				s.Objects++
			}
		}
	}
	var resp struct {
		Status string
		Data   struct {
			Feeds []struct {
				Status string
				Rows   int64
				Bytes  int64
			}
		}
	}
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.Data.Feeds) != 1 {
		return s, fmt.Errorf("sqlfeed printed %q", out)
	}
	f := resp.Data.Feeds[0]
	if f.Status != "success" || f.Rows != n {
		return s, fmt.Errorf("sqlfeed: %s", out)
	}
	s.Rows, s.Bytes = f.Rows, f.Bytes
	return s, nil
}

// measureReference runs the hand-written reference exporter once, to
// s3://bench/run-N/reference.json.
func (r *runner) measureReference(ctx context.Context, dsn string, n int64, run int) (sample, error) {
	driver, native, err := driverDSN(dsn)
	if err != nil {
		return sample{}, err
	}
	prefix := fmt.Sprintf("run-%d", run)
	defer r.minio.empty(context.WithoutCancel(ctx), prefix)
	cmd := exec.CommandContext(ctx, r.reference, "-driver", driver, "-dsn", native, "-query", benchQuery(n),
		"-bucket", r.minio.bucket, "-key", prefix+"/reference.json")
	cmd.Env = append(os.Environ(), r.minio.env()...)
	s, out, err := child(cmd, r.work)
	if err != nil {
		return s, err
	}
	if _, err := fmt.Sscan(string(out), &s.Rows, &s.Bytes); err != nil {
		return s, fmt.Errorf("reference printed %q", out)
	}
	return s, nil
}

// driverDSN turns a mysql:// or postgres:// URL into the database/sql driver
// name and DSN a user would pass to sql.Open.
func driverDSN(dsn string) (driver, native string, err error) {
	d, err := db.ParseDSN(dsn)
	if err != nil {
		return "", "", err
	}
	switch d.Engine {
	case "mysql":
		cfg := mysql.NewConfig()
		cfg.Net, cfg.Addr, cfg.DBName = "tcp", d.URL.Host, strings.TrimPrefix(d.URL.Path, "/")
		if d.URL.User != nil {
			cfg.User = d.URL.User.Username()
			cfg.Passwd, _ = d.URL.User.Password()
		}
		return "mysql", cfg.FormatDSN(), nil
	case "postgres":
		return "pgx", dsn, nil
	}
	return "", "", fmt.Errorf("engine %s: the reference exporter runs on mysql and postgres", d.Engine)
}

// minio is a MinIO server started for the benchmark.
type minio struct {
	endpoint, bucket string
	cmd              *exec.Cmd
	client           *s3.Client
}

const minioUser, minioPass = "benchadmin", "benchadmin-secret"

func (m *minio) env() []string {
	return []string{"AWS_ENDPOINT_URL_S3=" + m.endpoint, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + minioUser, "AWS_SECRET_ACCESS_KEY=" + minioPass,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PROFILE="}
}

// startMinIO starts bin on a free loopback port with its log in dir and its
// data in dataDir, and creates the bucket.
func startMinIO(ctx context.Context, bin, dir, dataDir string) (*minio, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	m := &minio{endpoint: "http://" + addr, bucket: "bench"}
	log, err := os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	m.cmd = exec.Command(bin, "server", "--quiet", "--address", addr, "--console-address", "127.0.0.1:0", dataDir)
	m.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+minioUser, "MINIO_ROOT_PASSWORD="+minioPass,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	m.cmd.Stdout, m.cmd.Stderr = log, log
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the bench
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start minio: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(m.endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			m.stop()
			return nil, fmt.Errorf("minio not ready after 30s (log in %s)", log.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, kv := range m.env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	if m.client, err = s3blob.NewClient(ctx); err != nil {
		m.stop()
		return nil, err
	}
	if _, err := m.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(m.bucket)}); err != nil {
		m.stop()
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	return m, nil
}

// empty deletes every object under prefix (each run publishes afresh).
func (m *minio) empty(ctx context.Context, prefix string) {
	p := s3.NewListObjectsV2Paginator(m.client, &s3.ListObjectsV2Input{Bucket: aws.String(m.bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		if len(ids) > 0 {
			_, _ = m.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(m.bucket), Delete: &types.Delete{Objects: ids}})
		}
	}
}

// objects returns every object's key and ETag with its LastModified.
func (m *minio) objects(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	p := s3.NewListObjectsV2Paginator(m.client, &s3.ListObjectsV2Input{Bucket: aws.String(m.bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", m.bucket, err)
		}
		for _, o := range page.Contents {
			out[aws.ToString(o.Key)] = aws.ToString(o.ETag) + " " + aws.ToTime(o.LastModified).String()
		}
	}
	return out, nil
}

// cpu returns the server's CPU time so far.
func (m *minio) cpu() time.Duration {
	if m == nil || m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	return procStat(m.cmd.Process.Pid, false)
}

func (m *minio) stop() {
	if m != nil && m.cmd != nil && m.cmd.Process != nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
	}
}

// median returns the median of the samples, metric by metric.
func median(ss []sample) sample {
	med := func(f func(sample) int64) int64 {
		v := make([]int64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return sample{
		Rows:     med(func(s sample) int64 { return s.Rows }),
		Bytes:    med(func(s sample) int64 { return s.Bytes }),
		Wall:     time.Duration(med(func(s sample) int64 { return int64(s.Wall) })),
		CPU:      time.Duration(med(func(s sample) int64 { return int64(s.CPU) })),
		MaxRSS:   med(func(s sample) int64 { return s.MaxRSS }),
		MinIOCPU: time.Duration(med(func(s sample) int64 { return int64(s.MinIOCPU) })),
		DBCPU:    time.Duration(med(func(s sample) int64 { return int64(s.DBCPU) })),
		Machine:  time.Duration(med(func(s sample) int64 { return int64(s.Machine) })),
		Objects:  med(func(s sample) int64 { return s.Objects }),
	}
}
