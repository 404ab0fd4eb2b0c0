package main

import (
	"context"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// minioEnv is the function's environment for m.
func minioEnv(m *testsvc.MinIO) []string {
	return []string{
		"AWS_ENDPOINT_URL_S3=" + m.Endpoint, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + m.AccessKey, "AWS_SECRET_ACCESS_KEY=" + m.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"SQLFEED_TO=" + m.URL(),
	}
}

// keys lists the object keys under prefix.
func keys(t *testing.T, m *testsvc.MinIO, prefix string) []string {
	t.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(m.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(m.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			out = append(out, *o.Key)
		}
	}
	sort.Strings(out)
	return out
}

// anonymousGet fetches an object with no credentials, as a feed consumer does.
func anonymousGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Acceptance 1 and 2 on MinIO: each event through the real bootstrap; feeds
// readable anonymously; a duplicate publishes once; the bad event writes
// nothing. (The source is the SQLite demo here; services_mariadb_test.go runs the
// same path from MariaDB.)
func TestEventsToMinIO(t *testing.T) {
	m := testsvc.StartMinIO(t)
	rt := start(t, append(minioEnv(m), "SQLFEED_DB="+chinookDSN(t), "SQLFEED_FEEDS=tracks,genres")...)
	resp, failed := invoke(t, rt, event(t, "scheduled-event.json"))
	if failed || resp.Status != "success" {
		t.Fatalf("scheduled event: %+v\n%s", resp, rt.Stderr())
	}
	if got := statuses(resp); got["tracks"] != "success" || got["genres"] != "success" {
		t.Fatalf("statuses %v", got)
	}
	code, body := anonymousGet(t, m.ObjectURL(m.Prefix+"/tracks/latest.json"))
	if code != 200 || !strings.HasPrefix(body, "[") || !strings.Contains(body, `"For Those About To Rock (We Salute You)"`) {
		t.Fatalf("anonymous GET tracks/latest.json: %d %.200s", code, body)
	}
	if code, _ := anonymousGet(t, m.ObjectURL(m.Prefix+"/index.json")); code != 200 {
		t.Errorf("anonymous GET index.json: %d", code)
	}
	if resp, failed := invoke(t, rt, event(t, "scheduled-event.json")); failed || statuses(resp)["tracks"] != "skipped" {
		t.Fatalf("duplicate: %+v", resp)
	}
	if v := keys(t, m, m.Prefix+"/tracks/versions/"); len(v) != 1 {
		t.Errorf("tracks versions after a duplicate: %v", v)
	}
	if resp, failed := invoke(t, rt, event(t, "scheduler-input.json")); failed || statuses(resp)["albums"] != "success" || statuses(resp)["tracks"] != "skipped" {
		t.Fatalf("scheduler input: %+v", resp)
	}
	before := keys(t, m, "")
	if resp, failed := invoke(t, rt, event(t, "bad-event.json")); failed || resp.Status != "badRequest" {
		t.Fatalf("bad event: %+v", resp)
	}
	if after := keys(t, m, ""); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("bad event changed the bucket: %v → %v", before, after)
	}
	if n := m.PendingMultipartUploads(); n != 0 {
		t.Errorf("%d multipart uploads left", n)
	}
}
