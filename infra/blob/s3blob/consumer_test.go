package s3blob_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// TestAnonymousConsumers reads published objects the way the public does:
// plain HTTP without credentials (Go's client and curl) and the AWS CLI v2
// with --no-sign-request, against the bucket policy of s3blob.PublicReadPolicy.
func TestAnonymousConsumers(t *testing.T) {
	m := testsvc.StartMinIO(t)
	ctx := context.Background()
	s, err := blob.Open(ctx, m.URL())
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`[{"id":1,"name":"For Those About To Rock"}]`))
	zw.Close()
	meta := blob.Meta{
		ContentType: "application/json", ContentEncoding: "gzip", CacheControl: "public, max-age=60",
		User: map[string]string{"sha256": "abc123", "rows": "1"},
	}
	if _, err := s.Put(ctx, "tracks/latest.json", bytes.NewReader(gz.Bytes()), blob.WriteOptions{Meta: meta}); err != nil {
		t.Fatal(err)
	}
	// Objects outside the feed prefix, written with credentials.
	for _, k := range []string{"private/secret.json", "_sqlfeed-state/x"} {
		if _, err := m.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &m.Bucket, Key: &k, Body: strings.NewReader("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	latest := m.ObjectURL(m.Prefix + "/tracks/latest.json")
	anon := &http.Client{Transport: &http.Transport{DisableCompression: true}}

	resp := do(t, anon, "GET", latest, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("anonymous GET %s: %s", latest, resp.Status)
	}
	for h, want := range map[string]string{
		"Content-Type": "application/json", "Content-Encoding": "gzip", "Cache-Control": "public, max-age=60",
		"X-Amz-Meta-Sha256": "abc123", "X-Amz-Meta-Rows": "1",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if !bytes.Equal(resp.body, gz.Bytes()) {
		t.Errorf("body differs from what was put")
	}
	etag := resp.Header.Get("ETag")
	if r := do(t, anon, "GET", latest, nil, map[string]string{"If-None-Match": etag}); r.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET with the ETag: %s, want 304", r.Status)
	}
	if r := do(t, anon, "HEAD", latest, nil, nil); r.StatusCode != 200 {
		t.Errorf("anonymous HEAD: %s", r.Status)
	}

	for _, c := range []struct{ name, method, url string }{
		{"GET outside the prefix", "GET", m.ObjectURL("private/secret.json")},
		{"GET of the state prefix", "GET", m.ObjectURL("_sqlfeed-state/x")},
		{"listing the bucket", "GET", m.Endpoint + "/" + m.Bucket + "/"},
		{"listing the prefix (v2)", "GET", m.Endpoint + "/" + m.Bucket + "?list-type=2&prefix=" + m.Prefix + "/"},
		{"listing all buckets", "GET", m.Endpoint + "/"},
		{"PUT under the prefix", "PUT", m.ObjectURL(m.Prefix + "/tracks/evil.json")},
		{"PUT over latest.json", "PUT", latest},
		{"DELETE of latest.json", "DELETE", latest},
	} {
		if r := do(t, anon, c.method, c.url, strings.NewReader("{}"), nil); r.StatusCode != http.StatusForbidden {
			t.Errorf("anonymous %s: %s, want 403", c.name, r.Status)
		}
	}
	if b, _, err := blob.ReadAll(ctx, s, "tracks/latest.json"); err != nil || !bytes.Equal(b, gz.Bytes()) {
		t.Errorf("latest.json changed by anonymous requests: %v", err)
	}
	if _, err := s.Head(ctx, "tracks/evil.json"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("anonymous PUT created an object: %v", err)
	}

	t.Run("curl", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			testsvc.Missing(t, "curl", err, "apt-get install curl")
		}
		out, err := exec.Command(curl, "-sS", "-o", "/dev/null", "-D", "-", latest).CombinedOutput()
		if err != nil || !bytes.HasPrefix(out, []byte("HTTP/1.1 200")) || !bytes.Contains(out, []byte("Content-Encoding: gzip")) {
			t.Fatalf("curl %s: %v\n%s", latest, err, out)
		}
		out, _ = exec.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "If-None-Match: "+etag, latest).CombinedOutput()
		if string(out) != "304" {
			t.Fatalf("curl conditional GET: %s", out)
		}
	})

	t.Run("aws-cli-v2", func(t *testing.T) {
		aws := testsvc.Env("SQLFEED_AWS_CLI", "/usr/bin/aws")
		out, err := exec.Command(aws, "--version").CombinedOutput()
		if err == nil && !bytes.HasPrefix(out, []byte("aws-cli/2.")) {
			err = errors.New("not v2: " + strings.TrimSpace(string(out)))
		}
		if err != nil {
			testsvc.Missing(t, "AWS CLI v2", err, "apt-get install awscli (scripts/test-services.sh does), or set SQLFEED_AWS_CLI")
		}
		dst := filepath.Join(t.TempDir(), "latest.json")
		cmd := exec.Command(aws, "s3", "cp", "--no-sign-request", "--endpoint-url", m.Endpoint,
			"s3://"+m.Bucket+"/"+m.Prefix+"/tracks/latest.json", dst)
		cmd.Env = withoutCredentials(os.Environ())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("aws s3 cp --no-sign-request: %v\n%s", err, out)
		}
		if got, _ := os.ReadFile(dst); !bytes.Equal(got, gz.Bytes()) {
			t.Fatalf("aws cli fetched %d bytes, want the %d put", len(got), gz.Len())
		}
		cmd = exec.Command(aws, "s3", "ls", "--no-sign-request", "--endpoint-url", m.Endpoint, "s3://"+m.Bucket+"/"+m.Prefix+"/")
		cmd.Env = withoutCredentials(os.Environ())
		if out, err := cmd.CombinedOutput(); err == nil || !bytes.Contains(out, []byte("AccessDenied")) {
			t.Fatalf("anonymous aws s3 ls: %v\n%s", err, out)
		}
	})
}

type response struct {
	*http.Response
	body []byte
}

func do(t *testing.T, c *http.Client, method, url string, body io.Reader, h map[string]string) response {
	t.Helper()
	if method == "GET" || method == "HEAD" || method == "DELETE" {
		body = nil
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp, b}
}

// withoutCredentials drops AWS credentials from env, so an anonymous client
// cannot fall back to them.
func withoutCredentials(env []string) []string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") || strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") ||
			strings.HasPrefix(kv, "AWS_SESSION_TOKEN=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
