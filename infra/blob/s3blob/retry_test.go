package s3blob_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/blob/s3blob"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// TestRetries puts a faulty HTTP proxy between the store and MinIO: the SDK's
// configured retryer goes through throttling (503 SlowDown) and server errors
// (500), and does not retry a lost precondition (412).
func TestRetries(t *testing.T) {
	m := testsvc.StartMinIO(t)
	target, _ := url.Parse(m.Endpoint)
	proxy := httputil.NewSingleHostReverseProxy(target) // keeps the Host header the request was signed with
	var mu sync.Mutex
	faults := map[string][]int{} // "METHOD key" → statuses to answer before passing requests on
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/"+m.Bucket+"/")
		mu.Lock()
		seen[id]++
		var status int
		if f := faults[id]; len(f) > 0 {
			status, faults[id] = f[0], f[1:]
		}
		mu.Unlock()
		if status != 0 {
			code := map[int]string{503: "SlowDown", 500: "InternalError"}[status]
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected</Message></Error>`, code)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.URL)
	s, err := s3blob.Open(t.Context(), m.Bucket, m.Prefix, s3blob.Options{})
	if err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	faults["PUT public/a.json"] = []int{503, 503}
	faults["GET public/a.json"] = []int{500}
	mu.Unlock()
	if _, err := s.Put(t.Context(), "a.json", strings.NewReader(`[1]`), blob.WriteOptions{IfNoneMatch: true}); err != nil {
		t.Fatalf("put through two 503 SlowDown: %v", err)
	}
	if b, _, err := blob.ReadAll(t.Context(), s, "a.json"); err != nil || string(b) != `[1]` {
		t.Fatalf("get through a 500: %q, %v", b, err)
	}
	if _, err := s.Put(t.Context(), "a.json", strings.NewReader(`[2]`), blob.WriteOptions{IfNoneMatch: true}); !errors.Is(err, blob.ErrPrecondition) {
		t.Fatalf("conditional put on an existing key: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["PUT public/a.json"] != 3+1 || seen["GET public/a.json"] != 2 {
		t.Fatalf("attempts seen by the server: %v (want PUT 3 then 1 for the 412, GET 2)", seen)
	}
}
