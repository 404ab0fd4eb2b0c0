package s3blob_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

const (
	memoryObjectSize = 1<<30 + 12345 // a bit over 1 GiB
	memoryLimit      = 128 << 20     // peak RSS allowed for the whole process
)

// TestHeavyS3StreamingMemory streams a > 1 GiB object into MinIO from a child process
// (this test binary, re-run as TestStreamingMemoryChild) under /usr/bin/time -v
// and checks the child's peak RSS stays under 128 MiB: memory is bounded by
// part size × concurrency, not by the object.
func TestHeavyS3StreamingMemory(t *testing.T) {
	testsvc.Heavy(t)
	m := testsvc.StartMinIO(t)
	bin := os.Args[0] // not under -race (Heavy), whose shadow memory would be measured
	args := []string{"-test.run=^TestStreamingMemoryChild$", "-test.v"}
	var cmd *exec.Cmd
	if _, err := os.Stat("/usr/bin/time"); err == nil {
		cmd = exec.Command("/usr/bin/time", append([]string{"-v", bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...) // VmHWM from the child alone
	}
	cmd.Env = append(os.Environ(), "SQLFEED_MEMORY_CHILD="+m.URL())
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	elapsed := time.Since(start)
	rss := peakRSS(t, out)
	a, err := blob.Open(context.Background(), m.URL())
	if err != nil {
		t.Fatal(err)
	}
	h, err := a.Head(context.Background(), "big/versions/big.json")
	if err != nil {
		t.Fatal(err)
	}
	if h.Size != memoryObjectSize {
		t.Fatalf("stored %d bytes, want %d", h.Size, memoryObjectSize)
	}
	t.Logf("streamed %d MiB in %v (%.0f MiB/s); child peak RSS %.1f MiB (limit %d MiB)",
		h.Size>>20, elapsed.Round(time.Millisecond), float64(h.Size)/(1<<20)/elapsed.Seconds(),
		float64(rss)/(1<<20), memoryLimit>>20)
	if rss >= memoryLimit {
		t.Fatalf("peak RSS %d bytes ≥ %d", rss, memoryLimit)
	}
}

// peakRSS reads /usr/bin/time's "Maximum resident set size", or else the
// child's own VmHWM line, in bytes.
func peakRSS(t *testing.T, out []byte) int64 {
	t.Helper()
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`),
		regexp.MustCompile(`VmHWM:\s*(\d+) kB`),
	} {
		if m := re.FindSubmatch(out); m != nil {
			kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no peak RSS in the child's output:\n%s", out)
	return 0
}

// TestStreamingMemoryChild is the child of TestHeavyS3StreamingMemory; it does
// nothing unless SQLFEED_MEMORY_CHILD names the store URL.
func TestStreamingMemoryChild(t *testing.T) {
	url := os.Getenv("SQLFEED_MEMORY_CHILD")
	if url == "" {
		t.Skip("run by TestHeavyS3StreamingMemory")
	}
	ctx := context.Background()
	s, err := blob.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.NewUpload(ctx, "big/versions/big.json", blob.WriteOptions{
		Meta: blob.Meta{ContentType: "application/x-ndjson"}, IfNoneMatch: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Abort(ctx)
	// Like the encoder: many small writes of JSON-ish lines.
	w := bufio.NewWriterSize(u, 32<<10)
	line := []byte(`{"id":0000000000,"name":"Track name with some text","album":{"title":"An album"},"price":0.99}` + "\n")
	var n int64
	for i := 0; n < memoryObjectSize; i++ {
		var num [10]byte
		d := strconv.AppendInt(num[:0], int64(i), 10)
		copy(line[6+10-len(d):16], d)
		k := min(int64(len(line)), memoryObjectSize-n)
		if _, err := w.Write(line[:k]); err != nil {
			t.Fatal(err)
		}
		n += k
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	status, _ := os.ReadFile("/proc/self/status")
	for l := range strings.Lines(string(status)) {
		if strings.HasPrefix(l, "VmHWM:") {
			fmt.Print(l)
		}
	}
}
