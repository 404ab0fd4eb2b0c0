package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/sqlfeed/sqlfeed/functions/internal/lambdaapp"
	"github.com/sqlfeed/sqlfeed/infra/blob"
	_ "github.com/sqlfeed/sqlfeed/infra/blob/fileblob"
	"github.com/sqlfeed/sqlfeed/infra/settings"
)

// standIn answers the Lambda Invoke API by running a real export App (the
// "new version"), and the CodeDeploy JSON API by recording the reported
// lifecycle status.
type standIn struct {
	app     *lambdaapp.App
	mu      sync.Mutex
	target  string           // function name invoked
	reports []map[string]any // PutLifecycleEventHookExecutionStatus bodies
}

func (s *standIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.HasPrefix(r.URL.Path, "/2015-03-31/functions/") && strings.HasSuffix(r.URL.Path, "/invocations"):
		s.target = strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/2015-03-31/functions/"), "/invocations")
		resp, err := s.app.Handle(r.Context(), body)
		if err != nil { // as Lambda reports a function error: 200, X-Amz-Function-Error
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			b, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": "ResponseError"})
			w.Write(b)
			return
		}
		json.NewEncoder(w).Encode(resp)
	case r.Header.Get("X-Amz-Target") == "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus":
		var in map[string]any
		json.Unmarshal(body, &in)
		s.reports = append(s.reports, in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(map[string]any{"lifecycleEventHookExecutionId": in["lifecycleEventHookExecutionId"]})
	default:
		http.Error(w, "unexpected request "+r.URL.Path+" "+r.Header.Get("X-Amz-Target"), http.StatusBadRequest)
	}
}

func TestHook(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sqlfeed.yaml")
	writeConfig := func(extra string) {
		os.WriteFile(cfgPath, []byte(`version: 1
feeds:
  - name: genres
    schedule: rate(1 day)
    query: SELECT GenreId, Name FROM Genre ORDER BY GenreId
    fields: {id: GenreId, name: Name`+extra+`}
`), 0o644)
	}
	writeConfig("")
	dbPath, _ := filepath.Abs("../../testdata/chinook.db")
	dsn, _ := settings.DSN("sqlite://"+dbPath, &settings.Clients{})
	public, state := filepath.Join(dir, "public"), filepath.Join(dir, "state")
	store, err := blob.Open(context.Background(), "file://"+public)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	app := &lambdaapp.App{
		Config: settings.NewCache(settings.Config(cfgPath, &settings.Clients{}), time.Nanosecond, nil),
		DSN:    settings.NewCache(dsn, time.Hour, nil), Store: store, Log: log, StateURL: "file://" + state,
	}
	defer app.Close()
	si := &standIn{app: app}
	srv := httptest.NewServer(si)
	defer srv.Close()
	creds := credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")
	h := &Hook{
		Lambda:     awslambda.New(awslambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds, RetryMaxAttempts: 1}),
		CodeDeploy: codedeploy.New(codedeploy.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds, RetryMaxAttempts: 1}),
		Target:     "arn:aws:lambda:us-east-1:123456789012:function:stack-export:7",
		Log:        log,
	}
	ctx := context.Background()
	ev := Event{DeploymentID: "d-ABC", LifecycleEventHookExecutionID: "hook-1"}

	for _, c := range []struct {
		name, extra, feed, want string
	}{
		{"good version", "", "", "Succeeded"},
		{"good version, named feed", "", "genres", "Succeeded"},
		{"a query the database rejects", ", x: NoSuchColumn", "", "Failed"},
		{"an unknown feed", "", "nope", "Failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			writeConfig(c.extra)
			h.Feed = c.feed
			before, _ := filepath.Glob(filepath.Join(state, "pretraffic", "*"))
			if err := h.Handle(ctx, ev); err != nil {
				t.Fatal(err)
			}
			si.mu.Lock()
			last := si.reports[len(si.reports)-1]
			target := si.target
			si.mu.Unlock()
			if last["deploymentId"] != "d-ABC" || last["lifecycleEventHookExecutionId"] != "hook-1" || last["status"] != c.want {
				t.Fatalf("reported %v, want %s", last, c.want)
			}
			if !strings.HasSuffix(target, "stack-export:7") {
				t.Errorf("invoked %q, want the new version", target)
			}
			after, _ := filepath.Glob(filepath.Join(state, "pretraffic", "*", "genres", "manifest.json"))
			if exported := len(after) > len(before); exported != (c.want == "Succeeded") {
				t.Errorf("exported to the state prefix: %v (%d → %d)", exported, len(before), len(after))
			}
			if _, err := os.Stat(filepath.Join(public, "genres")); err == nil {
				t.Error("the pre-traffic test published to the public prefix")
			}
		})
	}

	if err := h.Handle(ctx, Event{}); err == nil {
		t.Error("an event without ids was accepted")
	}
	// CodeDeploy unreachable: the hook fails, so CodeDeploy's timeout fails the deploy.
	srv.Close()
	if err := h.Handle(ctx, ev); err == nil || !strings.Contains(err.Error(), "report Failed to CodeDeploy") {
		t.Errorf("unreachable CodeDeploy: %v", err)
	}
}
