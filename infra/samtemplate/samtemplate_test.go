package samtemplate

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
	"github.com/sqlfeed/sqlfeed/transform"
	_ "github.com/sqlfeed/sqlfeed/transform/artistcard"
)

func readTemplate(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// repoFeeds returns sqlfeed.yaml's feeds (name → schedule) and which are sharded.
func repoFeeds(t *testing.T) (map[string]string, map[string]bool) {
	t.Helper()
	cfg, err := config.Load("../../sqlfeed.yaml", transform.Default)
	if err != nil {
		t.Fatal(err)
	}
	feeds, sharded := map[string]string{}, map[string]bool{}
	for _, f := range cfg.Feeds {
		feeds[f.Name] = f.Schedule
		sharded[f.Name] = f.Pages != nil && f.Shards > 0
	}
	n := 0
	for _, yes := range sharded {
		if yes {
			n++
		}
	}
	if n == 0 {
		t.Fatal("sqlfeed.yaml has no sharded feed: the state machine would go untested")
	}
	return feeds, sharded
}

// The repository's template.yaml agrees with sqlfeed.yaml and keeps its security promises.
func TestRepoTemplate(t *testing.T) {
	tpl := readTemplate(t)
	feeds, sharded := repoFeeds(t)
	if err := CheckSchedules([]byte(tpl), feeds, sharded); err != nil {
		t.Error(err)
	}
	if err := CheckSecurity([]byte(tpl)); err != nil {
		t.Error(err)
	}
	s, err := Schedules([]byte(tpl))
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != len(feeds) {
		t.Errorf("%d schedules for %d feeds", len(s), len(feeds))
	}
}

// Each broken variant of the template is caught, with a message naming the problem.
func TestTemplateMutations(t *testing.T) {
	tpl := readTemplate(t)
	feeds, sharded := repoFeeds(t)
	cases := []struct{ name, old, new, want string }{
		{"public list", "            Action: s3:GetObject\n", "            Action: [s3:GetObject, s3:ListBucket]\n", "may only s3:GetObject"},
		{"public write", "            Action: s3:GetObject\n", "            Action: s3:PutObject\n", "may only s3:GetObject"},
		{"whole bucket public", `Resource: !Sub "${FeedBucket.Arn}/${FeedPrefix}/*"` + "\n          - Sid: DenyInsecureTransport", `Resource: !Sub "${FeedBucket.Arn}/*"` + "\n          - Sid: DenyInsecureTransport", "only a key prefix"},
		{"acls allowed", "        IgnorePublicAcls: true", "        IgnorePublicAcls: false", "IgnorePublicAcls"},
		{"object writer", "ObjectOwnership: BucketOwnerEnforced", "ObjectOwnership: ObjectWriter", "BucketOwnerEnforced"},
		{"no versioning", "        Status: Enabled\n      LifecycleConfiguration", "        Status: Suspended\n      LifecycleConfiguration", "versioning"},
		{"cors put", "AllowedMethods: [GET, HEAD]", "AllowedMethods: [GET, HEAD, PUT]", "CORS allows PUT"},
		{"no reserved concurrency", "      ReservedConcurrentExecutions: !Ref ReservedConcurrency\n", "", "ReservedConcurrentExecutions"},
		{"no failure destination", "            Type: SQS\n", "            Type: SNS\n", "OnFailure"},
		{"no errors alarm", "      MetricName: Errors\n", "      MetricName: Throttles\n", "Errors"},
		{"wildcard iam", "Action: [s3:GetObject, s3:PutObject, s3:AbortMultipartUpload]", "Action: s3:*", `allows "s3:*"`},
		{"role writes the whole bucket", `                Resource: !Sub "${FeedBucket.Arn}/${FeedPrefix}/*"`, `                Resource: !Sub "${FeedBucket.Arn}/*"`, `statement FeedObjects grants S3 object rights on "${FeedBucket.Arn}/*"`},
		{"role deletes on the bucket", `Resource: !Sub "${FeedBucket.Arn}/${FeedPrefix}/*/versions/*"`, `Resource: !GetAtt FeedBucket.Arn`, `statement DeleteFeedVersions grants S3 object rights on "FeedBucket.Arn"`},
		{"role lists the whole bucket", "                Condition:\n                  StringLike:\n                    s3:prefix: !Sub \"${FeedPrefix}/*/versions/\"\n", "", "ListBucket without an s3:prefix condition"},
		{"role lists every prefix", `s3:prefix: !Sub "${FeedPrefix}/*/versions/"`, `s3:prefix: "*"`, `ListBucket on prefix "*"`},
		{"no stale alarm", "Dimensions: [{Name: Feed, Value: genres}]", "Dimensions: [{Name: Feed, Value: genre}]", `"genres" has no staleness alarm`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tpl, tc.old) {
				t.Fatalf("template lacks %q", tc.old)
			}
			bad := strings.Replace(tpl, tc.old, tc.new, 1)
			err := CheckSecurity([]byte(bad))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}

	sched := []struct{ name, old, new, want string }{
		{"other expression", "ScheduleExpression: rate(1 hour)", "ScheduleExpression: rate(2 hours)", `feed "tracks": ExportFunction event TracksSchedule runs rate(2 hours), sqlfeed.yaml says rate(1 hour)`},
		{"missing feed", `{"feeds": ["artists"]`, `{"feeds": ["painters"]`, `names feed "painters"`},
		{"no time", `"feeds": ["albums"], "scheduled_time": "<aws.scheduler.scheduled-time>"`, `"feeds": ["albums"]`, "scheduled-time"},
		{"sharded feed on the function", `            Input: '{"feeds": ["genres"]`, `            Input: '{"feeds": ["genres", "tracks-paged"]`, `feed "tracks-paged" has 2 schedules`},
		{"state machine input not a plan", `'{"sqlfeed": "plan", "feed": "tracks-paged"`, `'{"feeds": ["tracks-paged"]`, "must be the plan payload"},
		{"sharded feeds output", "    Value: tracks-paged\n", "    Value: tracks-paged,genres\n", `output ShardedFeeds is "tracks-paged,genres", want the sharded feeds "tracks-paged"`},
		{"unsharded feed on the state machine", `'{"sqlfeed": "plan", "feed": "tracks-paged"`, `'{"sqlfeed": "plan", "feed": "genres"`, `feed "genres" has 2 schedules`},
	}
	for _, tc := range sched {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(tpl, tc.old, tc.new, 1)
			if bad == tpl {
				t.Fatalf("template lacks %q", tc.old)
			}
			err := CheckSchedules([]byte(bad), feeds, sharded)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// A feed sharded in sqlfeed.yaml but scheduled on the function, and one
	// scheduled on the state machine but no longer sharded.
	for _, c := range []struct {
		feed string
		want string
	}{
		{"genres", `feed "genres" is sharded: ExportFunction event GenresSchedule invokes the function directly`},
		{"tracks-paged", `feed "tracks-paged" is not sharded: state machine ExportStateMachine event TracksPagedSchedule runs it`},
	} {
		other := map[string]bool{}
		for k, v := range sharded {
			other[k] = v
		}
		other[c.feed] = !other[c.feed]
		if err := CheckSchedules([]byte(tpl), feeds, other); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("feed %s flipped: err = %v, want %q", c.feed, err, c.want)
		}
	}
	// A feed added to sqlfeed.yaml without a schedule.
	more := map[string]string{"playlists": "rate(1 day)"}
	for k, v := range feeds {
		more[k] = v
	}
	if err := CheckSchedules([]byte(tpl), more, sharded); err == nil || !strings.Contains(err.Error(), `feed "playlists" (schedule rate(1 day)) has no schedule`) {
		t.Fatalf("err = %v", err)
	}
}

// cfn-lint (with the SAM translator) finds nothing in template.yaml.
func TestCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		testsvc.Missing(t, "cfn-lint", err, `install it with "pip install cfn-lint"`)
	}
	out, err := exec.Command(bin, "../../template.yaml").CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("cfn-lint template.yaml: %v\n%s", err, out)
	}
}

func TestCheckDeploy(t *testing.T) {
	b, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tpl := string(b)
	day := 24 * time.Hour
	intervals := map[string]time.Duration{"tracks": time.Hour, "albums": day, "genres": day, "invoices-by-country": day, "artists": day}
	if err := CheckDeploy(b, intervals); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	for _, c := range []struct{ name, old, new, want string }{
		{"no alias", "      AutoPublishAlias: live\n", "", "no AutoPublishAlias"},
		{"no hook", "        Hooks:\n          PreTraffic: !Ref PreTrafficFunction\n", "", "no PreTraffic hook"},
		{"errors of every version", "        - Name: ExecutedVersion\n          Value: !GetAtt ExportFunction.Version.Version\n", "", "without the ExecutedVersion dimension"},
		{"missing data not breaching", "      Dimensions: [{Name: Feed, Value: tracks}]\n      Statistic: Maximum\n      Period: 3600\n      EvaluationPeriods: 1\n      Threshold: 7200\n      ComparisonOperator: GreaterThanThreshold\n      TreatMissingData: breaching",
			"      Dimensions: [{Name: Feed, Value: tracks}]\n      Statistic: Maximum\n      Period: 3600\n      EvaluationPeriods: 1\n      Threshold: 7200\n      ComparisonOperator: GreaterThanThreshold\n      TreatMissingData: notBreaching", `TreatMissingData is "notBreaching"`},
		{"period shorter than the interval", "      Dimensions: [{Name: Feed, Value: albums}]\n      Statistic: Maximum\n      Period: 86400", "      Dimensions: [{Name: Feed, Value: albums}]\n      Statistic: Maximum\n      Period: 3600", `feed "albums"): evaluates 1h0m0s`},
		{"inline map", "                Mode: DISTRIBUTED\n", "                Mode: INLINE\n", "Map Shards is not a Distributed Map"},
		{"no map concurrency", "            MaxConcurrencyPath: $.max_concurrency\n", "", "Map Shards has no MaxConcurrency"},
		{"tolerated failures", "            ToleratedFailurePercentage: 0\n", "            ToleratedFailurePercentage: 10\n", "tolerates failed shards"},
		{"shard on the alias", "                    FunctionName.$: $.function\n", "                    FunctionName: ${ExportFunctionAlias}\n", "Task Shard must invoke the version the plan answered"},
		{"no retry of transient errors", "Lambda.TooManyRequestsException, sqlfeed.TransientDatabaseError]", "Lambda.TooManyRequestsException]", "Task Plan does not retry sqlfeed.TransientDatabaseError"},
		{"no fixed name", "      Name: !Sub \"${AWS::StackName}-export\"\n      Type: STANDARD\n", "      Type: STANDARD\n", "no fixed Name"},
		{"shards take every connection", "    Default: 2\n    MinValue: 1\n    Description: Most shards", "    Default: 3\n    MinValue: 1\n    Description: Most shards", "ShardConcurrency (default 3) must stay below ReservedConcurrency (default 3)"},
		{"state machine on $LATEST", "        ExportFunctionAlias: !Ref ExportFunctionAliaslive\n", "        ExportFunctionAlias: !GetAtt ExportFunction.Arn\n", "ExportFunctionAlias is ExportFunction's $LATEST"},
		{"standalone schedule on $LATEST", "  FailureQueue:\n", "  ExtraSchedule:\n    Type: AWS::Scheduler::Schedule\n    Properties:\n      ScheduleExpression: rate(1 hour)\n      FlexibleTimeWindow: {Mode: \"OFF\"}\n      Target:\n        Arn: !GetAtt ExportFunction.Arn\n        RoleArn: x\n  FailureQueue:\n", "schedule ExtraSchedule invokes ExportFunction's $LATEST"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(tpl, c.old) {
				t.Fatalf("template.yaml no longer contains %q", c.old)
			}
			err := CheckDeploy([]byte(strings.Replace(tpl, c.old, c.new, 1)), intervals)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	// An alias target is fine.
	ok := strings.Replace(tpl, "  FailureQueue:\n", "  ExtraSchedule:\n    Type: AWS::Scheduler::Schedule\n    Properties:\n      ScheduleExpression: rate(1 hour)\n      FlexibleTimeWindow: {Mode: \"OFF\"}\n      Target:\n        Arn: !Ref ExportFunctionAliaslive\n        RoleArn: x\n  FailureQueue:\n", 1)
	if err := CheckDeploy([]byte(ok), intervals); err != nil {
		t.Fatalf("alias target: %v", err)
	}
}

// RoleStatements resolves the export role's S3 statements for a bucket and
// prefix, and refuses what it cannot resolve or would silently drop.
func TestRoleStatements(t *testing.T) {
	tpl := readTemplate(t)
	vars := map[string]string{"FeedBucket": "b", "FeedBucket.Arn": "arn:aws:s3:::b", "FeedPrefix": "p/q"}
	got, err := RoleStatements([]byte(tpl), "ExportFunction", "s3", vars)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	want := `[{"Sid":"FeedObjects","Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:AbortMultipartUpload"],"Resource":["arn:aws:s3:::b/p/q/*"]},` +
		`{"Sid":"DeleteFeedVersions","Effect":"Allow","Action":["s3:DeleteObject"],"Resource":["arn:aws:s3:::b/p/q/*/versions/*"]},` +
		`{"Sid":"ListFeedVersions","Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::b"],"Condition":{"StringLike":{"s3:prefix":["p/q/*/versions/"]}}},` +
		`{"Sid":"DeleteFeedPages","Effect":"Allow","Action":["s3:DeleteObject"],"Resource":["arn:aws:s3:::b/p/q/*/pages/*"]},` +
		`{"Sid":"ListFeedPages","Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::b"],"Condition":{"StringLike":{"s3:prefix":["p/q/*/pages/"]}}},` +
		`{"Sid":"StateObjects","Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject","s3:AbortMultipartUpload"],"Resource":["arn:aws:s3:::b/_sqlfeed-state/*"]},` +
		`{"Sid":"ListState","Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::b"],"Condition":{"StringLike":{"s3:prefix":["_sqlfeed-state/*"]}}}]`
	if string(b) != want {
		t.Fatalf("statements\n%s\nwant\n%s", b, want)
	}
	sqs, err := RoleStatements([]byte(tpl), "ExportFunction", "sqs", map[string]string{"FailureQueue.Arn": "arn:q"})
	if err != nil || len(sqs) != 1 || sqs[0].Resource[0] != "arn:q" {
		t.Fatalf("sqs statements %+v, %v", sqs, err)
	}

	cases := []struct{ name, old, new, want string }{
		{"unresolved name", "", "", `no value for "FeedPrefix"`},
		{"mixed services", "Action: [s3:GetObject, s3:PutObject, s3:AbortMultipartUpload]", "Action: [s3:GetObject, s3:PutObject, s3:AbortMultipartUpload, sqs:SendMessage]", "mixes s3 actions with others"},
		{"no such role", "      Role: !GetAtt ExportFunctionRole.Arn", "      Role: !GetAtt OtherRole.Arn", "no AWS::IAM::Role OtherRole"},
		{"sub with a map", `Resource: !Sub "${FeedBucket.Arn}/${FeedPrefix}/*/versions/*"`, `Resource: !Sub ["${B}/*", {B: x}]`, "variable map"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := vars
			if tc.old == "" {
				v = map[string]string{"FeedBucket.Arn": "arn:aws:s3:::b"}
			}
			bad := strings.Replace(tpl, tc.old, tc.new, 1)
			if tc.old != "" && bad == tpl {
				t.Fatalf("template lacks %q", tc.old)
			}
			_, err := RoleStatements([]byte(bad), "ExportFunction", "s3", v)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// The state machine's ASL comes out as JSON with its substitutions, and a
// placeholder without a value is an error rather than left in the ASL.
func TestStateMachineDefinition(t *testing.T) {
	tpl := []byte(readTemplate(t))
	def, err := StateMachineDefinition(tpl, "ExportStateMachine", map[string]string{"ExportFunctionAlias": "arn:a:live", "ShardConcurrency": "4"})
	if err != nil {
		t.Fatal(err)
	}
	var asl struct {
		StartAt string
		States  map[string]struct {
			Parameters     map[string]any
			ResultSelector map[string]any
		}
	}
	if err := json.Unmarshal(def, &asl); err != nil {
		t.Fatal(err)
	}
	plan := asl.States[asl.StartAt]
	if asl.StartAt != "Plan" || plan.Parameters["FunctionName"] != "arn:a:live" || plan.ResultSelector["max_concurrency.$"] != "States.StringToJson('4')" {
		t.Fatalf("definition %s", def)
	}
	if _, err := StateMachineDefinition(tpl, "ExportStateMachine", map[string]string{"ExportFunctionAlias": "x"}); err == nil || !strings.Contains(err.Error(), "no value for ShardConcurrency") {
		t.Fatalf("err = %v", err)
	}
	if _, err := StateMachineDefinition(tpl, "Nope", nil); err == nil {
		t.Fatal("no error for a missing state machine")
	}
}
