package fileblob_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
)

func TestHandler(t *testing.T) {
	s, err := fileblob.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	meta := blob.Meta{ContentType: "application/json", ContentEncoding: "gzip", CacheControl: "public, max-age=60",
		User: map[string]string{"sha256": "abc", "version": "v1"}}
	a, err := s.Put(ctx, "tracks/latest.json", strings.NewReader("gzipped bytes"), blob.WriteOptions{Meta: meta})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "tracks/index.html", strings.NewReader("<p>tracks"), blob.WriteOptions{Meta: blob.Meta{ContentType: "text/html; charset=utf-8"}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fileblob.Handler(s))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, c := range []struct {
		name, method, path, inm string
		status                  int
		headers                 map[string]string
		body                    string
	}{
		{"GET with metadata", "GET", "/tracks/latest.json", "", 200, map[string]string{"Content-Type": "application/json",
			"Content-Encoding": "gzip", "Cache-Control": "public, max-age=60", "ETag": a.ETag, "X-Amz-Meta-Sha256": "abc",
			"X-Amz-Meta-Version": "v1", "Content-Length": "13"}, "gzipped bytes"},
		{"HEAD", "HEAD", "/tracks/latest.json", "", 200, map[string]string{"Content-Encoding": "gzip", "Content-Length": "13"}, ""},
		{"matching If-None-Match", "GET", "/tracks/latest.json", a.ETag, 304, map[string]string{"ETag": a.ETag, "Cache-Control": "public, max-age=60"}, ""},
		{"If-None-Match list", "GET", "/tracks/latest.json", `"other", ` + a.ETag, 304, nil, ""},
		{"other If-None-Match", "GET", "/tracks/latest.json", `"other"`, 200, nil, "gzipped bytes"},
		{"folder index", "GET", "/tracks/", "", 200, map[string]string{"Content-Type": "text/html; charset=utf-8"}, "<p>tracks"},
		{"folder without slash", "GET", "/tracks", "", 301, map[string]string{"Location": "/tracks/"}, ""},
		{"missing", "GET", "/tracks/nothing.json", "", 404, nil, ""},
		{"the store's own folder", "GET", "/.sqlfeed/lock", "", 404, nil, ""},
		{"escaping the folder", "GET", "/../../etc/passwd", "", 404, nil, ""},
		{"PUT", "PUT", "/tracks/latest.json", "", 405, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
			if c.inm != "" {
				req.Header.Set("If-None-Match", c.inm)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("%s %s: %s, want %d", c.method, c.path, resp.Status, c.status)
			}
			for k, v := range c.headers {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if c.body != "" && string(b) != c.body {
				t.Errorf("body %q, want %q", b, c.body)
			}
		})
	}
}
