package testsvc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestMinIOBinary(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("SQLFEED_MINIO", "")
	t.Setenv("SQLFEED_CACHE", cache)
	if _, err := MinIOBinary(); err == nil {
		t.Fatal("found a MinIO binary in an empty cache")
	}
	bin := filepath.Join(cache, "bin", "minio")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := MinIOBinary(); err == nil {
		t.Fatal("accepted a binary that is not executable")
	}
	os.Chmod(bin, 0o755)
	if got, err := MinIOBinary(); err != nil || got != bin {
		t.Fatalf("MinIOBinary() = %q, %v; want %s", got, err, bin)
	}
	t.Setenv("SQLFEED_MINIO", "/nonexistent/minio")
	if _, err := MinIOBinary(); err == nil {
		t.Fatal("SQLFEED_MINIO pointing nowhere was accepted")
	}
}

// TestMinIORestart: a server stopped mid-test comes back on the same address
// with its data.
func TestMinIORestart(t *testing.T) {
	m := StartMinIO(t)
	t.Setenv("AWS_MAX_ATTEMPTS", "1") // no retries while it is down
	c := m.Client()
	key := m.Prefix + "/x.json"
	if _, err := c.PutObject(t.Context(), putInput(m.Bucket, key)); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	if _, err := c.HeadObject(t.Context(), headInput(m.Bucket, key)); err == nil {
		t.Fatal("server answered while stopped")
	}
	m.Start()
	if _, err := c.HeadObject(t.Context(), headInput(m.Bucket, key)); err != nil {
		t.Fatalf("object lost across the restart: %v", err)
	}
}

func putInput(bucket, key string) *s3.PutObjectInput {
	return &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader("{}")}
}

func headInput(bucket, key string) *s3.HeadObjectInput {
	return &s3.HeadObjectInput{Bucket: &bucket, Key: &key}
}
