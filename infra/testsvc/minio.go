package testsvc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sqlfeed/sqlfeed/infra/blob/s3blob"
)

// MinIOHow tells a developer how to get the MinIO binary.
const MinIOHow = "run scripts/minio.sh (builds the pinned MinIO into ~/.cache/sqlfeed/bin) or set SQLFEED_MINIO"

// MinIO is a MinIO server started for one test on a free loopback port with a
// temporary data directory. It is killed when the test ends.
type MinIO struct {
	// Endpoint is the server's base URL, e.g. http://127.0.0.1:34567.
	Endpoint string
	// Bucket and Prefix are the bucket created and the feed prefix that the
	// public-read policy (s3blob.PublicReadPolicy) opens to anonymous readers.
	Bucket, Prefix string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string

	t        testing.TB
	bin, dir string
	addr     string
	cmd      *exec.Cmd
	exited   chan struct{}
	logPath  string
}

// MinIOBinary returns the MinIO server binary: $SQLFEED_MINIO, or the one
// scripts/minio.sh caches in ${SQLFEED_CACHE:-~/.cache/sqlfeed}/bin/minio.
func MinIOBinary() (string, error) {
	p := os.Getenv("SQLFEED_MINIO")
	if p == "" {
		cache := os.Getenv("SQLFEED_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", err
			}
			cache = filepath.Join(home, ".cache", "sqlfeed")
		}
		p = filepath.Join(cache, "bin", "minio")
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable", p)
	}
	return p, nil
}

// StartMinIO starts MinIO for t, creates bucket "feeds" with the public-read
// policy on prefix "public", and points the AWS SDK chain of this test process
// (and its children) at it: AWS_ENDPOINT_URL_S3, AWS_REGION and the root
// credentials in the environment, shared config files disabled. Without the
// binary the test skips (fails in CI) via Missing.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	bin, err := MinIOBinary()
	if err != nil {
		Missing(t, "MinIO", err, MinIOHow)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatalf("minio: %v", err)
	}
	m := &MinIO{
		Bucket: "feeds", Prefix: "public", AccessKey: "sqlfeed-test", SecretKey: "sqlfeed-test-secret",
		t: t, bin: bin, dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", port),
	}
	m.Endpoint = "http://" + m.addr
	m.logPath = filepath.Join(m.dir, "minio.log")
	t.Cleanup(m.Stop)
	m.Start()

	t.Setenv("AWS_ENDPOINT_URL_S3", m.Endpoint)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", m.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.SecretKey)
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "") // restored after the test…
		os.Unsetenv(k)  // …but unset during it (an empty AWS_PROFILE is an error to the CLI)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(m.dir, "no-aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(m.dir, "no-aws-credentials"))

	ctx := context.Background()
	c := m.Client()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &m.Bucket}); err != nil {
		t.Fatalf("minio: create bucket: %v", err)
	}
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{
		Bucket: &m.Bucket, Policy: aws.String(s3blob.PublicReadPolicy(m.Bucket, m.Prefix)),
	}); err != nil {
		t.Fatalf("minio: bucket policy: %v", err)
	}
	return m
}

// URL is the store URL of the feed prefix: s3://feeds/public.
func (m *MinIO) URL() string { return "s3://" + m.Bucket + "/" + m.Prefix }

// ObjectURL is the anonymous HTTP URL of key (relative to the bucket).
func (m *MinIO) ObjectURL(key string) string { return m.Endpoint + "/" + m.Bucket + "/" + key }

// Client returns an S3 client with the root credentials (the environment set
// by StartMinIO).
func (m *MinIO) Client() *s3.Client {
	m.t.Helper()
	c, err := s3blob.NewClient(context.Background())
	if err != nil {
		m.t.Fatalf("minio: client: %v", err)
	}
	return c
}

// Start starts the server (again, after Stop) on the same port and data
// directory, and waits until it is ready.
func (m *MinIO) Start() {
	m.t.Helper()
	if m.cmd != nil {
		return
	}
	log, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		m.t.Fatalf("minio: %v", err)
	}
	defer log.Close()
	cmd := exec.Command(m.bin, "server", "--quiet", "--address", m.addr,
		"--console-address", "127.0.0.1:0", filepath.Join(m.dir, "data"))
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("minio: start %s: %v", m.bin, err)
	}
	m.cmd, m.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(m.exited) }()
	if err := m.waitReady(30 * time.Second); err != nil {
		b, _ := os.ReadFile(m.logPath)
		m.Stop()
		m.t.Fatalf("minio: %v\n%s", err, tail(string(b), 2000))
	}
}

// Stop kills the server (as a crash would); Start brings it back.
func (m *MinIO) Stop() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Kill()
	<-m.exited
	m.cmd = nil
}

// PendingMultipartUploads counts the multipart uploads the server holds, from
// its data directory: MinIO's ListMultipartUploads only answers for one exact
// key, so it cannot tell whether some upload anywhere was left behind.
func (m *MinIO) PendingMultipartUploads() int {
	m.t.Helper()
	root := filepath.Join(m.dir, "data", ".minio.sys", "multipart")
	objs, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		m.t.Fatalf("minio: %v", err)
	}
	n := 0
	for _, o := range objs {
		ups, err := os.ReadDir(filepath.Join(root, o.Name()))
		if err != nil {
			m.t.Fatalf("minio: %v", err)
		}
		for _, u := range ups {
			if u.IsDir() {
				n++
			}
		}
	}
	return n
}

func (m *MinIO) waitReady(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		select {
		case <-m.exited:
			return errors.New("server exited while starting")
		default:
		}
		// ready: the process serves; cluster: its object layer has write
		// quorum (right after a restart ready can answer while objects are
		// still 503).
		err := health(m.Endpoint + "/minio/health/ready")
		if err == nil {
			if err = health(m.Endpoint + "/minio/health/cluster"); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// health GETs a MinIO health endpoint: nil when it answers 200.
func health(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}
