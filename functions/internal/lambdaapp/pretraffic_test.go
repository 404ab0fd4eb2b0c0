package lambdaapp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPreTraffic: the self-test validates every feed and exports one to a new
// folder of the state prefix, publishing nothing and emitting no metrics; a
// feed whose column is gone fails it.
func TestPreTraffic(t *testing.T) {
	a, cfg, _, clk, _, metricsOut := newApp(t)
	state := t.TempDir()
	a.StateURL = "file://" + state
	ctx := context.Background()
	resp, err := a.Handle(ctx, json.RawMessage(`{"pretraffic": {}}`))
	if err != nil || resp.Status != "success" || !strings.Contains(resp.Message, "pre-traffic test passed") {
		t.Fatalf("%+v %v", resp, err)
	}
	runs, _ := filepath.Glob(filepath.Join(state, "pretraffic", "*", "genres", "latest.json"))
	if len(runs) != 1 {
		t.Fatalf("state prefix holds %v, want one exported genres", runs)
	}
	if list, _ := a.Store.List(ctx, ""); len(list) != 0 {
		t.Errorf("the pre-traffic test published %d objects", len(list))
	}
	if metricsOut.Len() != 0 {
		t.Errorf("the pre-traffic test emitted metrics: %s", metricsOut)
	}

	cfg.v = strings.Replace(cfgText, "name: Name}", "name: Name, extra: NoSuchColumn}", 1)
	clk.t = clk.t.Add(time.Hour)
	resp, err = a.Handle(ctx, json.RawMessage(`{"pretraffic": {"feed": "genres"}}`))
	var re *ResponseError
	if !errors.As(err, &re) || resp.Status != "error" || !strings.Contains(resp.Message, "NoSuchColumn") {
		t.Fatalf("broken feed: %+v %v", resp, err)
	}
	if runs, _ := filepath.Glob(filepath.Join(state, "pretraffic", "*")); len(runs) != 1 {
		t.Errorf("a failed validation still exported: %v", runs)
	}
	a.StateURL = ""
	if _, err := a.Handle(ctx, json.RawMessage(`{"pretraffic": {}}`)); err == nil || !strings.Contains(err.Error(), "SQLFEED_STATE") {
		t.Errorf("no state prefix: %v", err)
	}
}

// TestSecondsSinceLastPublish: every outcome reports the age of the
// manifest's checked_at: published, unchanged, skipped (also after an
// unchanged run moved checked_at past generated_at) and failed.
func TestSecondsSinceLastPublish(t *testing.T) {
	a, _, dsn, clk, _, metricsOut := newApp(t)
	ctx := context.Background()
	start := clk.t
	run := func(payload string) {
		t.Helper()
		a.Handle(ctx, json.RawMessage(payload)) //nolint:errcheck // outcomes are read from the metrics
	}
	run(`{"feeds":["genres"],"scheduled_time":"2026-11-22T14:00:00Z"}`) // published at 14:00:05
	clk.t = start.Add(30 * time.Minute)
	run(`{"feeds":["genres"],"scheduled_time":"2026-11-22T13:00:00Z"}`) // older: skipped
	clk.t = start.Add(time.Hour)
	run(`{"feeds":["genres"],"scheduled_time":"2026-11-22T15:00:00Z"}`) // unchanged: checked_at advances
	clk.t = start.Add(2 * time.Hour)
	run(`{"feeds":["genres"],"scheduled_time":"2026-11-22T13:30:00Z"}`) // skipped: 1h since checked_at (2h since generated_at)
	clk.t = start.Add(3 * time.Hour)
	dsn.v = "sqlite:///nonexistent/dir/x.db"
	clk.t = clk.t.Add(time.Minute)                                      // past the settings cache
	run(`{"feeds":["genres"],"scheduled_time":"2026-11-22T17:00:00Z"}`) // failed

	var got []string
	sc := bufio.NewScanner(strings.NewReader(metricsOut.String()))
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		age, ok := l["SecondsSinceLastPublish"].(float64)
		if !ok {
			t.Fatalf("no SecondsSinceLastPublish on %v", l)
		}
		got = append(got, l["status"].(string)+":"+time.Duration(age*float64(time.Second)).String())
	}
	want := []string{"success:0s", "skipped:30m0s", "unchanged:0s", "skipped:1h0m0s", "error:2h1m0s"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("outcomes and ages %v, want %v", got, want)
	}
}
