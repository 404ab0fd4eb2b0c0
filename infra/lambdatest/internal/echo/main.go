// Command echo is a trivial Lambda function for testing the lambdatest
// harness: it answers {"echo": <event>} and fails on {"fail": "message"}.
package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, ev json.RawMessage) (map[string]json.RawMessage, error) {
		var in struct{ Fail string }
		if json.Unmarshal(ev, &in) == nil && in.Fail != "" {
			return nil, errors.New(in.Fail)
		}
		return map[string]json.RawMessage{"echo": ev}, nil
	})
}
