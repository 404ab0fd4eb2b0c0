package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/infra/asltest"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	_ "github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/lambdatest"
	"github.com/sqlfeed/sqlfeed/infra/samtemplate"
	"github.com/sqlfeed/sqlfeed/transform"
	_ "github.com/sqlfeed/sqlfeed/transform/artistcard"
)

// The state machine of template.yaml, run locally by aws-local-stepfunctions
// (infra/asltest), every Lambda task invoking the real bootstrap through the
// Runtime API harness: the function answers plan, shard and commit exactly as
// it would under Step Functions.

const (
	aliasARN    = lambdatest.FunctionARN + ":live"
	versionARN  = lambdatest.FunctionARN + ":7" // AWS_LAMBDA_FUNCTION_VERSION below
	shardedFeed = "tracks-paged"
)

// stepFunctions is a pool of warm containers of the export function (one
// invocation at a time each, like Lambda) behind the Lambda tasks.
type stepFunctions struct {
	t     *testing.T
	def   []byte
	pool  chan *lambdatest.Runtime
	pub   string // the published folder
	state string // the state folder
	// fault, when set, may answer a call instead of the function.
	fault func(state string, payload json.RawMessage) *asltest.Answer

	mu    sync.Mutex
	calls []call
}

type call struct {
	state, function string
	payload         json.RawMessage
}

func newStepFunctions(t *testing.T, containers int) *stepFunctions {
	m := asltest.Tools(t)
	tpl, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def, err := samtemplate.StateMachineDefinition(tpl, "ExportStateMachine",
		map[string]string{"ExportFunctionAlias": aliasARN, "ShardConcurrency": fmt.Sprint(containers)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(context.Background(), def); err != nil {
		t.Fatalf("template.yaml's state machine: %v", err)
	}
	dir := t.TempDir()
	s := &stepFunctions{t: t, def: def, pool: make(chan *lambdatest.Runtime, containers),
		pub: filepath.Join(dir, "public"), state: filepath.Join(dir, "state")}
	for range containers {
		s.pool <- start(t, "SQLFEED_DB="+chinookDSN(t), "SQLFEED_TO=file://"+s.pub,
			"SQLFEED_STATE=file://"+s.state, "AWS_LAMBDA_FUNCTION_VERSION=7")
	}
	return s
}

// invoke is the lambda:invoke integration: any free container runs the call.
func (s *stepFunctions) invoke(ctx context.Context, state, function string, payload json.RawMessage) asltest.Answer {
	s.mu.Lock()
	s.calls = append(s.calls, call{state, function, payload})
	s.mu.Unlock()
	if s.fault != nil {
		if a := s.fault(state, payload); a != nil {
			return *a
		}
	}
	if function != aliasARN && function != versionARN {
		return asltest.Answer{ErrorType: "Lambda.ResourceNotFoundException", ErrorMessage: "no function " + function}
	}
	rt := <-s.pool
	defer func() { s.pool <- rt }()
	res, err := rt.InvokeARN(ctx, function, payload)
	if err != nil {
		return asltest.Answer{ErrorType: "Lambda.ServiceException", ErrorMessage: err.Error()}
	}
	if res.Error != nil {
		return asltest.Answer{ErrorType: res.Error.ErrorType, ErrorMessage: res.Error.ErrorMessage}
	}
	return asltest.Answer{Payload: res.Response, ExecutedVersion: "7"}
}

// run executes the state machine for the feed at the scheduled time.
func (s *stepFunctions) run(at time.Time) asltest.Execution {
	s.t.Helper()
	input := fmt.Sprintf(`{"sqlfeed": "plan", "feed": %q, "scheduled_time": %q}`, shardedFeed, at.Format(time.RFC3339))
	ex, err := asltest.Tools(s.t).Run(context.Background(), s.def, []byte(input), s.invoke)
	if err != nil {
		s.t.Fatal(err)
	}
	return ex
}

// callsTo lists the calls of a state, and checks that the shards and the
// commit ran on the version the plan answered, the plan on the alias.
func (s *stepFunctions) callsTo(state string) []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []call
	for _, c := range s.calls {
		want := versionARN
		if c.state == "Plan" {
			want = aliasARN
		}
		if c.function != want {
			s.t.Errorf("%s invoked %s, want %s", c.state, c.function, want)
		}
		if c.state == state {
			out = append(out, c)
		}
	}
	return out
}

// unsharded exports the feed without shards into a folder of its own.
func unsharded(t *testing.T) string {
	t.Helper()
	text, err := os.ReadFile("../../sqlfeed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	plain := strings.Replace(string(text), "    shards: 4\n", "", 1)
	if plain == string(text) {
		t.Fatal("sqlfeed.yaml: tracks-paged has no \"shards: 4\" line")
	}
	cfg, err := config.Parse("unsharded.yaml", []byte(plain), transform.Default)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	source, err := db.Open(ctx, chinookDSN(t), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	dir := t.TempDir()
	store, err := blob.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	r := &exporters.Runner{Config: cfg, DB: source, Store: store}
	res, err := r.Run(ctx, exporters.Request{Feeds: []string{shardedFeed}})
	if err != nil || res[0].Status != exporters.StatusSuccess {
		t.Fatalf("unsharded run: %+v, %v", res, err)
	}
	return dir
}

// index reads the feed's latest.json without version and generated_at.
func index(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, shardedFeed, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	delete(v, "version")
	delete(v, "generated_at")
	return v
}

func manifestVersion(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, shardedFeed, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Version string }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.Version
}

// The template's state machine publishes the same pages and page index as
// an unsharded export, its shards and commit running on the plan's version.
func TestStateMachinePublishesSameFeed(t *testing.T) {
	s := newStepFunctions(t, 2)
	ex := s.run(time.Now().UTC().Truncate(time.Hour))
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("execution %+v", ex)
	}
	var out struct {
		Status string             `json:"status"`
		Feeds  []exporters.Result `json:"feeds"`
	}
	if err := json.Unmarshal(ex.Output, &out); err != nil || out.Status != exporters.ResponseSuccess || len(out.Feeds) != 1 || out.Feeds[0].Status != exporters.StatusSuccess {
		t.Fatalf("output %s (%v)", ex.Output, err)
	}
	if n := len(s.callsTo("Shard")); n != 4 {
		t.Errorf("%d shard invocations, want 4 (shards: 4)", n)
	}
	if n := len(s.callsTo("Commit")); n != 1 {
		t.Errorf("%d commits", n)
	}
	plain := unsharded(t)
	want, got := files(t, filepath.Join(plain, shardedFeed, "pages")), files(t, filepath.Join(s.pub, shardedFeed, "pages"))
	if strings.Join(got, ",") != strings.Join(want, ",") || len(want) < 2 {
		t.Fatalf("pages\n%v\nwant (unsharded)\n%v", got, want)
	}
	for _, p := range want {
		a, _ := os.ReadFile(filepath.Join(plain, shardedFeed, "pages", p))
		b, _ := os.ReadFile(filepath.Join(s.pub, shardedFeed, "pages", p))
		if !bytes.Equal(a, b) {
			t.Errorf("page %s differs from the unsharded export's", p)
		}
	}
	wi, gi := index(t, plain), index(t, s.pub)
	wb, _ := json.Marshal(wi)
	gb, _ := json.Marshal(gi)
	if !bytes.Equal(wb, gb) {
		t.Errorf("page index\n%s\nwant (unsharded)\n%s", gb, wb)
	}
}

// A shard whose database stays down through every retry fails the
// execution before the commit: the previous version stays served.
func TestStateMachineShardFailureKeepsPreviousVersion(t *testing.T) {
	s := newStepFunctions(t, 2)
	first := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	if ex := s.run(first); ex.Status != "SUCCEEDED" {
		t.Fatalf("first execution %+v", ex)
	}
	manifest, _ := os.ReadFile(filepath.Join(s.pub, shardedFeed, "manifest.json"))
	latest, _ := os.ReadFile(filepath.Join(s.pub, shardedFeed, "latest.json"))
	s.mu.Lock()
	s.calls = nil
	s.mu.Unlock()
	s.fault = func(state string, payload json.RawMessage) *asltest.Answer {
		var in struct{ Index int }
		if state == "Shard" && json.Unmarshal(payload, &in) == nil && in.Index == 1 {
			return &asltest.Answer{ErrorType: "sqlfeed.TransientDatabaseError", ErrorMessage: `{"status":"error","message":"transient database error: connection refused"}`}
		}
		return nil
	}
	ex := s.run(first.Add(time.Hour))
	if ex.Status != "FAILED" || ex.Error != "sqlfeed.TransientDatabaseError" {
		t.Fatalf("execution %+v, want FAILED with sqlfeed.TransientDatabaseError", ex)
	}
	failed := 0
	for _, c := range s.callsTo("Shard") {
		if bytes.Contains(c.payload, []byte(`"index":1`)) {
			failed++
		}
	}
	if failed != 6 {
		t.Errorf("shard 1 invoked %d times, want 6 (1 + MaxAttempts 5 of the Retry)", failed)
	}
	if n := len(s.callsTo("Commit")); n != 0 {
		t.Errorf("%d commits after a failed shard", n)
	}
	m2, _ := os.ReadFile(filepath.Join(s.pub, shardedFeed, "manifest.json"))
	l2, _ := os.ReadFile(filepath.Join(s.pub, shardedFeed, "latest.json"))
	if !bytes.Equal(manifest, m2) || !bytes.Equal(latest, l2) {
		t.Error("the failed execution changed the published feed")
	}
}

// Two executions for different scheduled times overlap; the older one
// commits last and loses: the newer version stays published.
func TestStateMachineOverlappingExecutions(t *testing.T) {
	s := newStepFunctions(t, 2)
	older := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	newer := older.Add(time.Hour)
	newerDone := make(chan struct{})
	s.fault = func(state string, payload json.RawMessage) *asltest.Answer {
		if state == "Commit" && runOf(s, payload).Equal(older) {
			<-newerDone // the older run's commit waits for the newer run's end
		}
		return nil
	}
	var wg sync.WaitGroup
	var exOld, exNew asltest.Execution
	wg.Add(2)
	go func() { defer wg.Done(); exOld = s.run(older) }()
	go func() { defer wg.Done(); defer close(newerDone); exNew = s.run(newer) }()
	wg.Wait()
	if exOld.Status != "SUCCEEDED" || exNew.Status != "SUCCEEDED" {
		t.Fatalf("executions %+v, %+v", exOld, exNew)
	}
	if !strings.Contains(string(exOld.Output), `"skipped"`) {
		t.Errorf("older execution's commit: %s, want skipped", exOld.Output)
	}
	if v := manifestVersion(t, s.pub); !strings.HasPrefix(v, newer.Format("20060102T150405Z")) {
		t.Errorf("published %s, want the newer run's version (%s-…)", v, newer.Format("20060102T150405Z"))
	}
}

// runOf returns the scheduled time of the plan a commit payload names (read
// from the state folder, where the plan step wrote it).
func runOf(s *stepFunctions, commit json.RawMessage) time.Time {
	var in struct {
		RunID string `json:"run_id"`
	}
	var p struct {
		ScheduledTime time.Time `json:"scheduled_time"`
	}
	json.Unmarshal(commit, &in)
	b, err := os.ReadFile(filepath.Join(s.state, shardedFeed, in.RunID, "plan.json"))
	if err != nil {
		s.t.Errorf("plan of run %s: %v", in.RunID, err)
	}
	json.Unmarshal(b, &p)
	return p.ScheduledTime
}

// A plan answered badRequest (here: a feed that is not sharded) is no Lambda
// error, but it has no items: the execution fails there, nothing runs after.
func TestStateMachineBadRequestFails(t *testing.T) {
	s := newStepFunctions(t, 1)
	ex, err := asltest.Tools(t).Run(context.Background(), s.def, []byte(`{"sqlfeed": "plan", "feed": "genres"}`), s.invoke)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Status != "FAILED" || ex.Error != "States.Runtime" {
		t.Fatalf("execution %+v, want FAILED with States.Runtime", ex)
	}
	if n := len(s.callsTo("Shard")) + len(s.callsTo("Commit")); n != 0 {
		t.Errorf("%d shard or commit invocations after a bad plan", n)
	}
}
