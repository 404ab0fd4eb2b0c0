package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
)

// Event is what CodeDeploy invokes a lifecycle hook with.
type Event struct {
	DeploymentID                  string `json:"DeploymentId"`
	LifecycleEventHookExecutionID string `json:"LifecycleEventHookExecutionId"`
}

// LambdaAPI is the part of the Lambda client the hook uses.
type LambdaAPI interface {
	Invoke(ctx context.Context, in *awslambda.InvokeInput, opts ...func(*awslambda.Options)) (*awslambda.InvokeOutput, error)
}

// CodeDeployAPI is the part of the CodeDeploy client the hook uses.
type CodeDeployAPI interface {
	PutLifecycleEventHookExecutionStatus(ctx context.Context, in *codedeploy.PutLifecycleEventHookExecutionStatusInput, opts ...func(*codedeploy.Options)) (*codedeploy.PutLifecycleEventHookExecutionStatusOutput, error)
}

// Hook is the PreTraffic hook: it invokes the new version of the export
// function (Target, a version ARN) with the pre-traffic self-test and reports
// the outcome to CodeDeploy, which shifts traffic only on Succeeded.
type Hook struct {
	Lambda     LambdaAPI
	CodeDeploy CodeDeployAPI
	Target     string // the new version's ARN (!Ref ExportFunction.Version)
	Feed       string // feed to export to the state prefix; "" the function's default
	Log        *slog.Logger
}

// standard is the export function's standard response (CONTRACT §6), as read here.
type standard struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// test runs the self-test on the target version; nil when it passed.
func (h *Hook) test(ctx context.Context) error {
	if h.Target == "" {
		return errors.New("no target version (SQLFEED_TARGET)")
	}
	payload, _ := json.Marshal(map[string]any{"pretraffic": map[string]string{"feed": h.Feed}})
	if h.Feed == "" {
		payload = []byte(`{"pretraffic": {}}`)
	}
	out, err := h.Lambda.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(h.Target), Payload: payload})
	if err != nil {
		return fmt.Errorf("invoke %s: %w", h.Target, err)
	}
	if out.FunctionError != nil {
		return fmt.Errorf("%s failed (%s): %s", h.Target, *out.FunctionError, truncate(string(out.Payload), 2000))
	}
	var resp standard
	if err := json.Unmarshal(out.Payload, &resp); err != nil {
		return fmt.Errorf("%s answered %q: not the standard response: %w", h.Target, truncate(string(out.Payload), 200), err)
	}
	if resp.Status != "success" {
		return fmt.Errorf("%s answered %s: %s", h.Target, resp.Status, resp.Message)
	}
	h.Log.Info("pre-traffic test passed", "target", h.Target, "message", resp.Message)
	return nil
}

// Handle runs the test and reports Succeeded or Failed. It returns an error
// only when the report itself failed (CodeDeploy then fails the deploy when
// the hook times out).
func (h *Hook) Handle(ctx context.Context, ev Event) error {
	if ev.DeploymentID == "" || ev.LifecycleEventHookExecutionID == "" {
		return errors.New("not a CodeDeploy lifecycle event: want DeploymentId and LifecycleEventHookExecutionId")
	}
	status := cdtypes.LifecycleEventStatusSucceeded
	if err := h.test(ctx); err != nil {
		h.Log.Error("pre-traffic test failed: the deploy rolls back", "target", h.Target, "error", err.Error())
		status = cdtypes.LifecycleEventStatusFailed
	}
	_, err := h.CodeDeploy.PutLifecycleEventHookExecutionStatus(ctx, &codedeploy.PutLifecycleEventHookExecutionStatusInput{
		DeploymentId:                  aws.String(ev.DeploymentID),
		LifecycleEventHookExecutionId: aws.String(ev.LifecycleEventHookExecutionID),
		Status:                        status,
	})
	if err != nil {
		return fmt.Errorf("report %s to CodeDeploy: %w", status, err)
	}
	h.Log.Info("reported to CodeDeploy", "deployment", ev.DeploymentID, "status", string(status))
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
