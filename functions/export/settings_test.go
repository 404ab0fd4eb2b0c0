package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// moto starts moto_server and returns the function's AWS environment and an
// SDK config for the test itself.
func moto(t *testing.T) ([]string, aws.Config) {
	t.Helper()
	url := testsvc.Moto(t)
	env := []string{
		"AWS_ENDPOINT_URL_SSM=" + url,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + url,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(),
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		awsconfig.WithBaseEndpoint(url))
	if err != nil {
		t.Fatal(err)
	}
	return env, cfg
}

const oneFeed = `version: 1
feeds:
  - name: genres
    schedule: rate(1 day)
    query: SELECT GenreId, Name FROM Genre ORDER BY GenreId
    fields: {id: GenreId, name: Name}
`

const twoFeeds = oneFeed + `  - name: media-types
    schedule: rate(1 day)
    query: SELECT MediaTypeId, Name FROM MediaType ORDER BY MediaTypeId
    fields: {id: MediaTypeId, name: Name}
`

// Acceptance 3: a changed SSM parameter is picked up after the cache period
// and not before (the period is shortened to a few seconds for the test).
func TestConfigFromSSMRereadAfterCachePeriod(t *testing.T) {
	env, cfg := moto(t)
	ctx := context.Background()
	sc := ssm.NewFromConfig(cfg)
	put := func(v string) {
		t.Helper()
		if _, err := sc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/sqlfeed/config"), Value: aws.String(v),
			Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	}
	put(oneFeed)
	const ttl = 10 * time.Second // room for a loaded CI machine
	pub := t.TempDir()
	function(t) // build first: the cache period starts when the process reads the parameter
	started := time.Now()
	rt := start(t, append(env, "SQLFEED_CONFIG=ssm:/sqlfeed/config", "SQLFEED_SETTINGS_TTL="+ttl.String(),
		"SQLFEED_DB="+chinookDSN(t), "SQLFEED_TO=file://"+pub)...)
	media := []byte(`{"feeds":["media-types"],"scheduled_time":"2026-11-22T14:00:00Z"}`)
	if resp, _ := invoke(t, rt, []byte(`{"feeds":["genres"],"scheduled_time":"2026-11-22T14:00:00Z"}`)); resp.Status != "success" {
		t.Fatalf("genres: %+v\n%s", resp, rt.Stderr())
	}
	if resp, _ := invoke(t, rt, media); resp.Status != "badRequest" {
		t.Fatalf("media-types before it exists: %+v", resp)
	}
	put(twoFeeds)
	if out, err := sc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/sqlfeed/config"), WithDecryption: aws.Bool(true)}); err != nil || *out.Parameter.Value != twoFeeds {
		t.Fatalf("moto did not store the new parameter: %v", err)
	}
	resp, _ := invoke(t, rt, media)
	if time.Since(started) >= ttl {
		t.Fatalf("test too slow to check the cache (%v ≥ %v)", time.Since(started), ttl)
	}
	if resp.Status != "badRequest" {
		t.Fatalf("the new parameter was read before the cache period ended: %+v", resp)
	}
	time.Sleep(ttl - time.Since(started) + 500*time.Millisecond)
	if resp, _ := invoke(t, rt, media); resp.Status != "success" || statuses(resp)["media-types"] != "success" {
		t.Fatalf("after the cache period: %+v\n%s", resp, rt.Stderr())
	}
}

// Acceptance 6: with the DSN in a Secrets Manager secret, no log line, metric
// line, response or error shows the password or the full DSN.
func TestSecretNeverLogged(t *testing.T) {
	env, cfg := moto(t)
	ctx := context.Background()
	const password = "Sup3r-Secr3t-Pa55w0rd"
	// A port with nothing listening: the connection fails, and its error is reported.
	port, err := testsvc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	secret := fmt.Sprintf(`{"engine":"postgres","host":"127.0.0.1","port":%d,"username":"feeder","password":%q,"dbname":"chinook"}`, port, password)
	if _, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("sqlfeed/db"), SecretString: aws.String(secret)}); err != nil {
		t.Fatal(err)
	}
	pub := t.TempDir()
	rt := start(t, append(env, "SQLFEED_DB=secretsmanager://sqlfeed/db?sslmode=disable", "SQLFEED_TO=file://"+pub)...)
	var answers []string
	for _, ev := range [][]byte{event(t, "scheduler-input.json"), event(t, "scheduled-event.json")} {
		res, err := rt.Invoke(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if res.Error == nil {
			t.Fatalf("invocation against a closed port succeeded: %s", res.Response)
		}
		answers = append(answers, res.Error.ErrorMessage)
	}
	all := map[string]string{"stderr (logs)": rt.Stderr(), "stdout (metrics)": rt.Stdout(), "answers": strings.Join(answers, "\n")}
	for where, text := range all {
		for _, s := range []string{password, "feeder:" + password, "%22" + password} {
			if strings.Contains(text, s) {
				t.Errorf("%s contains the secret %q:\n%s", where, s, text)
			}
		}
	}
	if !strings.Contains(answers[0], `"status":"error"`) {
		t.Errorf("answer is not the error response: %s", answers[0])
	}
	t.Logf("error text: %s", answers[0])
}
