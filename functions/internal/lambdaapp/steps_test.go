package lambdaapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	"github.com/sqlfeed/sqlfeed/infra/db"
)

const shardedCfg = `version: 1
feeds:
  - name: genres
    schedule: rate(1 day)
    query: SELECT GenreId, Name FROM Genre ORDER BY GenreId
    fields: {id: GenreId, name: Name}
  - name: tracks
    schedule: rate(1 hour)
    query: SELECT TrackId, Name FROM Track ORDER BY TrackId
    fields: {id: TrackId, name: Name}
    pages: {by: TrackId, rows: 300}
    shards: 3
`

// stepApp is an App with the sharded config, a state folder and version 7,
// invoked through the alias ARN.
func stepApp(t *testing.T) (*App, *source, *clock, context.Context) {
	a, cfg, _, clk, _, _ := newApp(t)
	cfg.v = shardedCfg
	state, err := blob.Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a.State, a.FunctionVersion = state, "7"
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
		InvokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:sqlfeed-export:live"})
	return a, cfg, clk, ctx
}

// invokeStep calls Invoke and decodes the step response (from the error
// message when the step failed), returning the error type.
func invokeStep(t *testing.T, a *App, ctx context.Context, payload string, data any) (StepResponse, string) {
	t.Helper()
	out, err := a.Invoke(ctx, json.RawMessage(payload))
	var resp StepResponse
	errType := ""
	if err != nil {
		var ie messages.InvokeResponse_Error
		if !errors.As(err, &ie) {
			t.Fatalf("%s: error %T %v is not a named Lambda error", payload, err, err)
		}
		errType = ie.Type
		b := []byte(ie.Message)
		if err := json.Unmarshal(b, &resp); err != nil {
			t.Fatalf("error text is not the response: %s", b)
		}
		return resp, errType
	}
	resp = out.(StepResponse)
	if data != nil {
		b, _ := json.Marshal(resp.Data)
		if err := json.Unmarshal(b, data); err != nil {
			t.Fatal(err)
		}
	}
	return resp, errType
}

// Plan answers the items and commit on the executing version's ARN; shards
// and commit publish the feed; the step refuses what does not match.
func TestSteps(t *testing.T) {
	a, cfg, clk, ctx := stepApp(t)
	var plan PlanOutput
	resp, typ := invokeStep(t, a, ctx, `{"sqlfeed":"plan","feed":"tracks","scheduled_time":"2026-11-22T14:00:00Z"}`, &plan)
	const version = "arn:aws:lambda:eu-west-1:123456789012:function:sqlfeed-export:7"
	if resp.Status != exporters.ResponseSuccess || typ != "" || plan.Function != version || len(plan.Items) != 3 ||
		plan.Commit.Function != version || plan.Plan.FunctionVersion != "7" || plan.Plan.Shards != nil {
		t.Fatalf("plan: %+v %s %+v", resp, typ, plan)
	}
	for i, it := range plan.Items {
		if it.Step != "shard" || *it.Index != i || it.RunID != plan.Plan.RunID || it.ConfigDigest != plan.Plan.ConfigDigest || it.Feed != "tracks" {
			t.Errorf("item %d: %+v", i, it)
		}
	}
	item := func(i int, digest string) string {
		return fmt.Sprintf(`{"sqlfeed":"shard","feed":"tracks","run_id":%q,"index":%d,"config_digest":%q,"function":%q}`, plan.Plan.RunID, i, digest, version)
	}
	digest := plan.Plan.ConfigDigest
	other := strings.Repeat("0", 64)
	for _, c := range []struct{ name, payload, status, errType string }{
		{"unsharded feed", `{"sqlfeed":"plan","feed":"genres"}`, exporters.ResponseBadRequest, ""},
		{"unknown feed", `{"sqlfeed":"plan","feed":"nope"}`, exporters.ResponseBadRequest, ""},
		{"digest not the plan's", item(0, other), exporters.ResponseBadRequest, ""},
		{"no such shard", item(9, digest), exporters.ResponseError, ErrorStep},
		{"no such run", strings.Replace(item(0, digest), plan.Plan.RunID, "00000000", 1), exporters.ResponseError, ErrorStep},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, typ := invokeStep(t, a, ctx, c.payload, nil)
			if resp.Status != c.status || typ != c.errType {
				t.Fatalf("%+v, error type %q; want %s, %q", resp, typ, c.status, c.errType)
			}
		})
	}
	for i := range plan.Items {
		var sr exporters.ShardResult
		if resp, typ := invokeStep(t, a, ctx, item(i, digest), &sr); resp.Status != exporters.ResponseSuccess || typ != "" || sr.Index != i {
			t.Fatalf("shard %d: %+v %s %+v", i, resp, typ, sr)
		}
	}
	commit, _ := json.Marshal(plan.Commit)
	var feeds exporters.ResponseData
	resp, typ = invokeStep(t, a, ctx, string(commit), &feeds)
	if resp.Status != exporters.ResponseSuccess || typ != "" || len(feeds.Feeds) != 1 || feeds.Feeds[0].Status != exporters.StatusSuccess || feeds.Feeds[0].Rows != 3503 {
		t.Fatalf("commit: %+v %s %+v", resp, typ, feeds)
	}
	// Retried after a lost answer: its own version, again a success.
	if resp, typ := invokeStep(t, a, ctx, string(commit), &feeds); resp.Status == exporters.ResponseError || typ != "" {
		t.Fatalf("commit again: %+v %s", resp, typ)
	}

	// Another version of the function refuses the plan's steps, and so does
	// every version once the feed's config changed: not retried.
	a.FunctionVersion = "8"
	if resp, typ := invokeStep(t, a, ctx, item(0, digest), nil); resp.Status != exporters.ResponseError || typ != ErrorConfigChanged {
		t.Fatalf("other version: %+v %q", resp, typ)
	}
	a.FunctionVersion = "7"
	cfg.v = strings.Replace(shardedCfg, "rows: 300", "rows: 200", 1)
	clk.t = clk.t.Add(time.Minute) // past the settings cache
	if resp, typ := invokeStep(t, a, ctx, item(0, digest), nil); resp.Status != exporters.ResponseError || typ != ErrorConfigChanged {
		t.Fatalf("changed config: %+v %q", resp, typ)
	}
}

// A transient database error is named for the state machine's Retry; other
// errors are not.
func TestStepErrorType(t *testing.T) {
	transient := &exporters.TransientError{Err: errors.New("connection refused")}
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("shard 1: %w", transient), ErrorTransientDatabase},
		{fmt.Errorf("x: %w", exporters.ErrConfigChanged), ErrorConfigChanged},
		{errors.New("syntax error"), ErrorStep},
		{&db.Error{Op: "query"}, ErrorStep}, // a query's error, not the connection's
	} {
		if got := stepErrorType(c.err); got != c.want {
			t.Errorf("%v: %s, want %s", c.err, got, c.want)
		}
	}
}

func TestQualifiedARN(t *testing.T) {
	for _, c := range []struct{ invoked, version, want string }{
		{"arn:aws:lambda:eu-west-1:1:function:f:live", "7", "arn:aws:lambda:eu-west-1:1:function:f:7"},
		{"arn:aws:lambda:eu-west-1:1:function:f", "7", "arn:aws:lambda:eu-west-1:1:function:f:7"},
		{"arn:aws:lambda:eu-west-1:1:function:f:3", "3", "arn:aws:lambda:eu-west-1:1:function:f:3"},
		{"", "7", ""},
	} {
		ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{InvokedFunctionArn: c.invoked})
		if got := qualifiedARN(ctx, c.version); got != c.want {
			t.Errorf("%s @%s: %s, want %s", c.invoked, c.version, got, c.want)
		}
	}
}

// The pre-traffic test can export a sharded feed: its plan and shard results
// stay in the test's scratch folder.
func TestPreTrafficShardedFeed(t *testing.T) {
	a, _, _, ctx := stepApp(t)
	a.StateURL = "file://" + t.TempDir()
	resp, err := a.Handle(ctx, json.RawMessage(`{"pretraffic":{"feed":"tracks"}}`))
	if err != nil || resp.Status != exporters.ResponseSuccess {
		t.Fatalf("%+v %v", resp, err)
	}
}
