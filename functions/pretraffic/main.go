// Command pretraffic is the CodeDeploy PreTraffic hook of the export function
// (CONTRACT §7), built as bootstrap for provided.al2023/arm64. Before any
// traffic shifts to a new version, it invokes that version (SQLFEED_TARGET,
// its version ARN) with {"pretraffic": {...}}: the version validates every
// feed's query against the database and exports one small feed
// (SQLFEED_PRETRAFFIC_FEED, default its first) to the state prefix. The hook
// reports Succeeded or Failed to CodeDeploy, which rolls the deploy back on
// Failed.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("init: AWS config", "error", err.Error())
		os.Exit(1)
	}
	h := &Hook{
		Lambda: awslambda.NewFromConfig(cfg), CodeDeploy: codedeploy.NewFromConfig(cfg),
		Target: os.Getenv("SQLFEED_TARGET"), Feed: os.Getenv("SQLFEED_PRETRAFFIC_FEED"), Log: log,
	}
	lambda.Start(h.Handle)
}
