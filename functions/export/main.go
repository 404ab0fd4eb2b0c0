// Command export is the scheduled Lambda function (CONTRACT §6), built as
// bootstrap for provided.al2023/arm64. Everything heavy — settings, the
// database connection, the store — is set up once per container, here in
// main; the handler only parses the event, runs the feeds and answers.
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"time"
	_ "time/tzdata" // feed time zones without a system zoneinfo

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sqlfeed/sqlfeed/exporters"
	"github.com/sqlfeed/sqlfeed/functions/internal/lambdaapp"
	_ "github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	_ "github.com/sqlfeed/sqlfeed/infra/blob/s3blob"
	_ "github.com/sqlfeed/sqlfeed/transform/artistcard"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx := context.Background()
	app, err := lambdaapp.FromEnv(ctx, os.Getenv, os.Stdout, log)
	if err != nil {
		// A broken environment fails every invocation with the reason, as the
		// standard response, rather than a bare init crash.
		log.Error("init", "error", err.Error())
		resp := exporters.Response{Status: exporters.ResponseError, Message: err.Error(), Data: exporters.ResponseData{Feeds: []exporters.Result{}}}
		lambda.Start(func(context.Context, json.RawMessage) (exporters.Response, error) {
			return resp, &lambdaapp.ResponseError{Response: resp}
		})
		return
	}
	exporters.SetMemoryLimit(app.Store) // unless GOMEMLIMIT is set
	// Bounded, so an unreachable database cannot use up Lambda's init time;
	// the first invocation then reports the error.
	warm, cancel := context.WithTimeout(ctx, 5*time.Second)
	app.Warm(warm)
	cancel()
	lambda.Start(app.Invoke)
}
