package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckCommand runs `sqlfeed run` then `sqlfeed check` on the folder, as
// text and --json, then breaks one feed: exit 0, then 1 naming the feed, 2
// for usage.
func TestCheckCommand(t *testing.T) {
	dir := inRepoRoot(t)
	if code, out, stderr := sqlfeed(t, "run"); code != exitOK {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, stderr)
	}
	u := "file://" + dir
	if code, out, stderr := sqlfeed(t, "check", u); code != exitOK || out != "" || !strings.Contains(stderr, "6 feeds, 0 problems") {
		t.Fatalf("check of a good publish: exit %d\n%s\n%s", code, out, stderr)
	}
	// --max-age after the URL (flags may follow it).
	code, out, _ := sqlfeed(t, "check", u, "--json", "--max-age", "1h")
	var rep struct {
		OK       bool     `json:"ok"`
		Problems []string `json:"problems"`
		Feeds    []struct {
			Feed     string   `json:"feed"`
			Problems []string `json:"problems"`
		} `json:"feeds"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitOK || !rep.OK || len(rep.Feeds) != 6 || rep.Problems == nil {
		t.Fatalf("check --json: exit %d, %v\n%s", code, err, out)
	}

	// One byte of genres' latest.json changed.
	p := filepath.Join(dir, "genres", "latest.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = sqlfeed(t, "check", u)
	if code != exitFailed || !strings.HasPrefix(out, "feed genres: latest.json") {
		t.Fatalf("check of a changed byte: exit %d\n%s", code, out)
	}
	code, out, _ = sqlfeed(t, "check", "--json", u)
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitFailed || rep.OK {
		t.Fatalf("check --json: exit %d, %v\n%s", code, err, out)
	}
	for _, f := range rep.Feeds {
		if (f.Feed == "genres") != (len(f.Problems) > 0) {
			t.Errorf("feed %s: problems %q", f.Feed, f.Problems)
		}
	}

	if code, out, _ := sqlfeed(t, "check", "file://"+filepath.Join(dir, "missing")); code != exitFailed || !strings.Contains(out, "missing") {
		t.Errorf("check of a missing folder: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"check"}, {"check", "ftp://x/y"}, {"check", "--max-age", "soon", u}, {"check", u, u}} {
		if code, _, _ := sqlfeed(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// TestServeCommand serves a published folder and reads it over HTTP with its
// stored metadata, then stops on cancel.
func TestServeCommand(t *testing.T) {
	dir := inRepoRoot(t)
	if code, _, stderr := sqlfeed(t, "run", "genres"); code != exitOK {
		t.Fatalf("run: %s", stderr)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		var out, errOut strings.Builder
		done <- run(ctx, []string{"serve", "--addr", addr, dir}, &out, &errOut)
	}()
	var resp *http.Response
	for i := 0; i < 100; i++ {
		if resp, err = http.Get("http://" + addr + "/genres/latest.json"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "public, max-age=60" {
		t.Fatalf("GET latest.json: %s %v", resp.Status, resp.Header)
	}
	code, out, _ := sqlfeed(t, "check", "http://"+addr+"/")
	if code != exitOK {
		t.Fatalf("check over serve: exit %d\n%s", code, out)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("serve exit %d", code)
	}
	if code, _, _ := sqlfeed(t, "serve", filepath.Join(dir, "nothing")); code != exitUsage {
		t.Errorf("serve of a missing folder: exit %d", code)
	}
}
