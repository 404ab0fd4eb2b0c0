package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/sqlfeed/sqlfeed/infra/settings"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// TestSecretAndSSMSettings runs the CLI with --db secretsmanager://ID (an RDS
// secret for a MariaDB Chinook) and --config ssm:/path, against moto_server.
func TestSecretAndSSMSettings(t *testing.T) {
	mysql := testsvc.MySQL(t)
	mysql.LoadChinook(t)
	endpoint := testsvc.Moto(t)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_SSM": endpoint, "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	aws = &settings.Clients{} // the CLI's clients pick up this test's endpoint
	t.Cleanup(func() { aws = &settings.Clients{} })
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(mysql.DSN)
	port := u.Port()
	if port == "" {
		port = "3306"
	}
	secret, _ := json.Marshal(map[string]any{"engine": "mysql", "host": u.Hostname(), "port": port,
		"username": u.User.Username(), "password": "", "dbname": strings.TrimPrefix(u.Path, "/")})
	if _, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: awssdk.String("sqlfeed/chinook"), SecretString: awssdk.String(string(secret))}); err != nil {
		t.Fatal(err)
	}
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: awssdk.String("/sqlfeed/config"), Type: "String", Value: awssdk.String(oneFeed)}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	code, stdout, stderr := sqlfeed(t, "run", "--config", "ssm:/sqlfeed/config", "--db", "secretsmanager://sqlfeed/chinook", "--to", "file://"+out)
	if code != exitOK || !strings.Contains(stdout, "genres") || !strings.Contains(stdout, "success") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "genres", "latest.json"))
	if err != nil || !strings.Contains(string(b), `{"id":1,"name":"Rock"}`) {
		t.Fatalf("genres from the secret's database: %v %.200s", err, b)
	}
	code, _, stderr = sqlfeed(t, "validate", "--config", "ssm:/sqlfeed/config", "--db", "secretsmanager://sqlfeed/missing")
	if code != exitFailed || !strings.Contains(stderr, "secretsmanager://sqlfeed/missing") {
		t.Fatalf("missing secret: exit %d %s", code, stderr)
	}
}
