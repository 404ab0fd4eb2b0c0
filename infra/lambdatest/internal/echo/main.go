// Command echo is a trivial Lambda function for testing the lambdatest
// harness: it answers {"echo": <event>}, fails on {"fail": "message"}, and
// with ECHO_INIT_ERROR set reports an init error and exits.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	if msg := os.Getenv("ECHO_INIT_ERROR"); msg != "" {
		// Report a failed init as a custom runtime does, then exit.
		body := `{"errorMessage":"` + msg + `","errorType":"InitFailed"}`
		resp, err := http.Post("http://"+os.Getenv("AWS_LAMBDA_RUNTIME_API")+"/2018-06-01/runtime/init/error", "application/json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
		}
		os.Exit(1)
	}
	lambda.Start(func(_ context.Context, ev json.RawMessage) (map[string]json.RawMessage, error) {
		var in struct{ Fail string }
		if json.Unmarshal(ev, &in) == nil && in.Fail != "" {
			return nil, errors.New(in.Fail)
		}
		return map[string]json.RawMessage{"echo": ev}, nil
	})
}
