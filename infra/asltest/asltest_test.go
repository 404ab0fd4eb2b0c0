package asltest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// A two-state machine: the Task's answer flows into the output, a named
// error is retried as the definition says and then fails the execution, and
// asl-validator refuses a broken definition.
func TestRun(t *testing.T) {
	m := Tools(t)
	def := []byte(`{"StartAt":"Call","States":{"Call":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
		"Parameters":{"FunctionName":"f","Payload.$":"$"},"ResultSelector":{"got.$":"$.Payload.n"},
		"Retry":[{"ErrorEquals":["my.Transient"],"MaxAttempts":2}],"End":true}}}`)
	ctx := context.Background()
	if err := m.Validate(ctx, def); err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(ctx, []byte(`{"StartAt":"Nowhere","States":{}}`)); err == nil {
		t.Fatal("a definition without its start state validated")
	}
	calls := 0
	ex, err := m.Run(ctx, def, []byte(`{"n":7}`), func(_ context.Context, state, fn string, p json.RawMessage) Answer {
		calls++
		if state != "Call" || fn != "f" {
			t.Errorf("call %s %s", state, fn)
		}
		return Answer{Payload: p}
	})
	if err != nil || ex.Status != "SUCCEEDED" || string(ex.Output) != `{"got":7}` || calls != 1 {
		t.Fatalf("run: %+v, %v, %d calls", ex, err, calls)
	}
	calls = 0
	ex, err = m.Run(ctx, def, []byte(`{"n":7}`), func(context.Context, string, string, json.RawMessage) Answer {
		calls++
		return Answer{ErrorType: "my.Transient", ErrorMessage: "down"}
	})
	if err != nil || ex.Status != "FAILED" || ex.Error != "my.Transient" || !strings.Contains(ex.Cause, "down") || calls != 3 {
		t.Fatalf("failing run: %+v, %v, %d calls (want 1 + 2 retries)", ex, err, calls)
	}
}
