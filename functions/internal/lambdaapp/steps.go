package lambdaapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/lambdaevent"
)

// The errorType of a failed step's Lambda error, which the state machine's
// Retry matches (template.yaml): only transient database errors are retried.
const (
	// ErrorTransientDatabase: the database connection failed (server
	// restarted, connection killed); the step may succeed when retried.
	ErrorTransientDatabase = "sqlfeed.TransientDatabaseError"
	// ErrorConfigChanged: the feed's config is not the one the plan was made
	// under, or this is not the function version the plan recorded.
	ErrorConfigChanged = "sqlfeed.ConfigChangedError"
	// ErrorStep: any other failure of a step.
	ErrorStep = "sqlfeed.StepError"
)

// StepResponse is the standard response of a sharded feed's step (CONTRACT
// §6): Data is the step's output (PlanOutput, an exporters.ShardResult, or
// the feeds of a commit).
type StepResponse struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

// PlanOutput is the data of the plan step's answer: the state machine maps
// Items on the Distributed Map and then invokes Commit, both on Function.
type PlanOutput struct {
	// Plan is the plan without its ranges (they stay in the state store).
	Plan *exporters.Plan `json:"plan"`
	// Function is the qualified ARN of the version that made the plan.
	Function string      `json:"function"`
	Items    []StepInput `json:"items"`
	Commit   StepInput   `json:"commit"`
}

// StepInput is the payload of a shard or commit step.
type StepInput struct {
	Step         string `json:"sqlfeed"`
	Feed         string `json:"feed"`
	RunID        string `json:"run_id"`
	Index        *int   `json:"index,omitempty"`
	ConfigDigest string `json:"config_digest"`
	Function     string `json:"function"`
}

// Invoke is the function's Lambda handler: a sharded feed's step is
// answered with a StepResponse, anything else by Handle. A failed step's
// error carries its errorType (ErrorTransientDatabase, …) for the state
// machine; its message is the response as JSON.
func (a *App) Invoke(ctx context.Context, payload json.RawMessage) (any, error) {
	req, err := lambdaevent.Parse(payload, a.ScheduledFeeds, a.now)
	if err != nil || (req.Kind != lambdaevent.KindPlan && req.Kind != lambdaevent.KindShard && req.Kind != lambdaevent.KindCommit) {
		return a.Handle(ctx, payload)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Log.Info("invocation", "kind", req.Kind, "feed", req.Feeds[0], "run_id", req.RunID, "shard", req.Shard, "scheduled_time", req.ScheduledTime)
	data, err := a.step(ctx, req)
	if exporters.IsBadRequest(err) || lambdaevent.IsBadRequest(err) {
		a.Log.Error("bad request", "error", err.Error())
		return StepResponse{Status: exporters.ResponseBadRequest, Message: err.Error(), Data: struct{}{}}, nil
	}
	if err != nil {
		resp := StepResponse{Status: exporters.ResponseError, Message: err.Error(), Data: data}
		if data == nil {
			resp.Data = struct{}{}
		}
		a.Log.Error("step failed", "kind", req.Kind, "feed", req.Feeds[0], "run_id", req.RunID, "error", err.Error())
		text, _ := json.Marshal(resp)
		return resp, messages.InvokeResponse_Error{Type: stepErrorType(err), Message: string(text)}
	}
	if commit, ok := data.(exporters.ResponseData); ok {
		resp := exporters.NewResponse(commit.Feeds)
		return StepResponse{Status: resp.Status, Message: resp.Message, Data: commit}, nil
	}
	return StepResponse{Status: exporters.ResponseSuccess, Message: req.Kind + " done", Data: data}, nil
}

// stepErrorType names err for the state machine's Retry.
func stepErrorType(err error) string {
	var te *exporters.TransientError
	var de *db.Error
	switch {
	case errors.Is(err, exporters.ErrConfigChanged):
		return ErrorConfigChanged
	case errors.As(err, &te), errors.As(err, &de) && de.Transient():
		return ErrorTransientDatabase
	}
	return ErrorStep
}

// step runs one step; the data is the step's output (for a failed commit,
// its feeds, so the error text names the outcome).
func (a *App) step(ctx context.Context, req lambdaevent.Request) (any, error) {
	cfg, err := a.config(ctx)
	if err != nil {
		return nil, err
	}
	name := req.Feeds[0]
	f := cfg.Feed(name)
	if f == nil {
		return nil, &exporters.UnknownFeedError{Name: name}
	}
	if f.Pages == nil || f.Shards == 0 {
		return nil, &lambdaevent.BadRequest{Reason: fmt.Sprintf("feed %q is not sharded (no pages and shards in the config)", name)}
	}
	if a.State == nil {
		return nil, errors.New("no state prefix (SQLFEED_STATE): sharded feeds keep their plans and shard results there")
	}
	source, err := a.database(ctx)
	if err != nil {
		return nil, err
	}
	r := &exporters.Runner{Config: cfg, DB: source, Store: a.Store, State: a.State, Log: a.Log, Now: a.Now}
	if req.Kind == lambdaevent.KindPlan {
		p, err := r.Plan(ctx, name, req.ScheduledTime, exporters.PlanOptions{FunctionVersion: a.FunctionVersion})
		if err != nil {
			return nil, err
		}
		return planOutput(p, qualifiedARN(ctx, a.FunctionVersion)), nil
	}
	p, err := r.LoadPlan(ctx, name, req.RunID)
	if err != nil {
		return nil, err
	}
	switch {
	case p.ConfigDigest != req.ConfigDigest:
		return nil, &lambdaevent.BadRequest{Reason: fmt.Sprintf("config_digest %s is not the digest of run %s's plan", req.ConfigDigest, req.RunID)}
	case p.FunctionVersion != a.FunctionVersion:
		return nil, fmt.Errorf("run %s was planned by function version %q, this is %q: %w", req.RunID, p.FunctionVersion, a.FunctionVersion, exporters.ErrConfigChanged)
	}
	if req.Kind == lambdaevent.KindShard {
		res, err := r.Shard(ctx, p, req.Shard)
		if err != nil {
			return nil, err
		}
		return res, nil
	}
	res, err := r.Commit(ctx, p)
	results, _ := a.finish(ctx, []exporters.Result{res})
	if err == nil && res.Status == exporters.StatusError {
		err = errors.New(res.Message)
	}
	return results.Data, err
}

// planOutput is the plan step's answer for plan p, made by the version fn.
func planOutput(p *exporters.Plan, fn string) PlanOutput {
	out := PlanOutput{Function: fn, Items: make([]StepInput, 0, len(p.Shards)),
		Commit: StepInput{Step: lambdaevent.KindCommit, Feed: p.Feed, RunID: p.RunID, ConfigDigest: p.ConfigDigest, Function: fn}}
	for _, s := range p.Shards {
		in := out.Commit
		in.Step, in.Index = lambdaevent.KindShard, &s.Index
		out.Items = append(out.Items, in)
	}
	bare := *p
	bare.Shards = nil
	out.Plan = &bare
	return out
}

// qualifiedARN is the ARN of the executing version: the invoked ARN (an
// alias's, or already a version's) with its qualifier replaced by version.
// Without a Lambda context (tests, local runs) it is "".
func qualifiedARN(ctx context.Context, version string) string {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok || lc.InvokedFunctionArn == "" {
		return ""
	}
	arn := lc.InvokedFunctionArn
	// arn:partition:lambda:region:account:function:name[:qualifier]
	if parts := strings.Split(arn, ":"); len(parts) == 8 {
		arn = strings.Join(parts[:7], ":")
	}
	if version == "" {
		return arn
	}
	return arn + ":" + version
}
