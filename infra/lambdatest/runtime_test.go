package lambdatest

import (
	"context"
	"sort"
	"testing"
	"time"
)

func TestHarnessEcho(t *testing.T) {
	bin := Build(t, "github.com/sqlfeed/sqlfeed/infra/lambdatest/internal/echo")
	rt := Start(t, bin, Options{})
	init, err := rt.WaitReady(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("init time of the echo function: %v", init)
	ctx := context.Background()
	res, err := rt.Invoke(ctx, []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Error != nil || string(res.Response) != `{"echo":{"a":1}}` {
		t.Fatalf("got %+v (%s)", res, res.Response)
	}
	res, err = rt.Invoke(ctx, []byte(`{"fail":"boom"}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Error == nil || res.Error.ErrorMessage != "boom" || res.Response != nil {
		t.Fatalf("got %+v", res)
	}
	// A warm process serves many invocations.
	for i := 0; i < 5; i++ {
		if res, err := rt.Invoke(ctx, []byte(`{}`)); err != nil || res.Error != nil {
			t.Fatalf("invocation %d: %+v %v", i, res, err)
		}
	}
}

// initTimes starts bin n times and returns the sorted init times.
func initTimes(t *testing.T, bin string, n int, opt Options) []time.Duration {
	t.Helper()
	var out []time.Duration
	for i := 0; i < n; i++ {
		rt := Start(t, bin, opt)
		d, err := rt.WaitReady(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
		rt.Stop()
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// TestHarnessInitTime: WaitReady reports a plausible init time.
func TestHarnessInitTime(t *testing.T) {
	bin := Build(t, "github.com/sqlfeed/sqlfeed/infra/lambdatest/internal/echo")
	ds := initTimes(t, bin, 5, Options{})
	t.Logf("echo init times: %v (median %v)", ds, ds[len(ds)/2])
	// The harness measures process start → first /next: positive, and for a
	// function that does nothing at init far below a second.
	if ds[0] <= 0 || ds[len(ds)/2] > 500*time.Millisecond {
		t.Fatalf("echo init times %v: want > 0 and a median ≤ 500ms", ds)
	}
}

func TestHarnessInitError(t *testing.T) {
	bin := Build(t, "github.com/sqlfeed/sqlfeed/infra/lambdatest/internal/echo")
	rt := Start(t, bin, Options{Env: []string{"ECHO_INIT_ERROR=no config"}})
	if _, err := rt.WaitReady(10 * time.Second); err == nil {
		t.Fatal("WaitReady succeeded for a function that failed its init")
	}
	if e := rt.InitError(); e == nil || e.ErrorMessage != "no config" || e.ErrorType != "InitFailed" {
		t.Fatalf("init error %+v", e)
	}
	if _, err := rt.Invoke(context.Background(), []byte(`{}`)); err == nil {
		t.Fatal("Invoke on an exited function succeeded")
	}
}
