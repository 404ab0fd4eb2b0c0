package settings

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)} }
func motoEnv(t *testing.T) (url string) {
	t.Helper()
	url = testsvc.Moto(t)
	t.Setenv("AWS_ENDPOINT_URL_SSM", url)
	t.Setenv("AWS_ENDPOINT_URL_SECRETSMANAGER", url)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return url
}

func putParam(t *testing.T, c *Clients, name, value string) {
	t.Helper()
	ctx := context.Background()
	cl, err := c.SSM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.(*ssm.Client).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A changed SSM parameter is picked up once the cache period has passed, not before.
func TestSSMConfigCachedFiveMinutes(t *testing.T) {
	motoEnv(t)
	ctx := context.Background()
	c := &Clients{}
	putParam(t, c, "/sqlfeed/config", "version: 1 # one")
	clk := newClock()
	cache := NewCache(Config("ssm:/sqlfeed/config", c), 0, clk.now)
	if got := cache.Source().String(); got != "ssm:/sqlfeed/config" {
		t.Errorf("source = %q", got)
	}
	get := func() string {
		t.Helper()
		v, err := cache.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := get(); v != "version: 1 # one" {
		t.Fatalf("first read = %q", v)
	}
	putParam(t, c, "/sqlfeed/config", "version: 1 # two")
	clk.add(4*time.Minute + 59*time.Second)
	if v := get(); v != "version: 1 # one" {
		t.Fatalf("before 5 minutes: %q, want the cached value", v)
	}
	clk.add(time.Second)
	if v := get(); v != "version: 1 # two" {
		t.Fatalf("after 5 minutes: %q, want the new value", v)
	}
}

func TestSSMMissingParameter(t *testing.T) {
	motoEnv(t)
	_, err := Config("ssm:/nope", &Clients{}).Fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "SSM") || !strings.Contains(err.Error(), "/nope") {
		t.Fatalf("err = %v", err)
	}
}

const nasty = `p@ss:w/rd?#%&+ é"\`

func TestSecretsManagerDSN(t *testing.T) {
	motoEnv(t)
	ctx := context.Background()
	c := &Clients{}
	sm, err := c.SecretsManager(ctx)
	if err != nil {
		t.Fatal(err)
	}
	secret := `{"engine":"mysql","host":"db.example.internal","port":3306,"username":"feeder","password":` + jsonString(nasty) + `,"dbname":"chinook"}`
	if _, err := sm.(*secretsmanager.Client).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("sqlfeed/db"), SecretString: aws.String(secret),
	}); err != nil {
		t.Fatal(err)
	}
	src, err := DSN("secretsmanager://sqlfeed/db?tls=true", c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(src.String(), nasty) || src.String() != "secretsmanager://sqlfeed/db" {
		t.Errorf("String() = %q", src.String())
	}
	clk := newClock()
	cache := NewCache(src, 0, clk.now)
	dsn, err := cache.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkDSN(t, dsn, "mysql", "db.example.internal:3306", "feeder", nasty, "/chinook")
	if u, _ := url.Parse(dsn); u.Query().Get("tls") != "true" {
		t.Errorf("tls param lost: %s", db.Redact(dsn))
	}

	// Rotation: the new password is used after the cache period.
	rotated := strings.Replace(secret, jsonString(nasty), `"new-pass"`, 1)
	if _, err := sm.(*secretsmanager.Client).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("sqlfeed/db"), SecretString: aws.String(rotated),
	}); err != nil {
		t.Fatal(err)
	}
	if d, _ := cache.Get(ctx); d != dsn {
		t.Error("re-read before the cache period")
	}
	clk.add(DefaultTTL)
	d, _ := cache.Get(ctx)
	checkDSN(t, d, "mysql", "db.example.internal:3306", "feeder", "new-pass", "/chinook")

	// Missing secret: the error names the secret, nothing else.
	bad, _ := DSN("secretsmanager://nope", c)
	if _, err := bad.Fetch(ctx); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing secret: %v", err)
	}
}

func jsonString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

func checkDSN(t *testing.T, dsn, scheme, host, user, pass, path string) {
	t.Helper()
	d, err := db.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("ParseDSN: %v", err)
	}
	u := d.URL
	p, _ := u.User.Password()
	if u.Scheme != scheme || u.Host != host || u.User.Username() != user || p != pass || u.Path != path {
		t.Errorf("DSN %s: got %s %s %s %q %s", db.Redact(dsn), u.Scheme, u.Host, u.User.Username(), p, u.Path)
	}
}

func TestRDSSecretDSN(t *testing.T) {
	cases := []struct {
		name, json, ref  string
		scheme, host, db string
		err              string
	}{
		{name: "postgres string port", json: `{"engine":"postgres","host":"h","port":"6543","username":"u","password":"x","dbname":"d"}`, scheme: "postgres", host: "h:6543", db: "/d"},
		{name: "aurora default port", json: `{"engine":"aurora-postgresql","host":"h","username":"u","password":"x","dbname":"d"}`, scheme: "postgres", host: "h:5432", db: "/d"},
		{name: "mariadb", json: `{"engine":"mariadb","host":"h","username":"u","password":"x"}`, scheme: "mysql", host: "h:3306", db: "/"},
		{name: "managed secret filled", json: `{"username":"u","password":"x"}`, ref: "id?engine=mysql&host=h&dbname=d&port=3307", scheme: "mysql", host: "h:3307", db: "/d"},
		{name: "ipv6", json: `{"engine":"mysql","host":"::1","username":"u","password":"x"}`, scheme: "mysql", host: "[::1]:3306", db: "/"},
		{name: "no engine", json: `{"host":"h","username":"u","password":"x"}`, err: "engine"},
		{name: "oracle", json: `{"engine":"oracle","host":"h","username":"u","password":"x"}`, err: "not supported"},
		{name: "no host", json: `{"engine":"mysql","username":"u","password":"x"}`, err: "host"},
		{name: "bad port", json: `{"engine":"mysql","host":"h","port":"99999","username":"u","password":"x"}`, err: "port"},
		{name: "not json", json: `engine=mysql password=x`, err: "not JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := tc.ref
			if ref == "" {
				ref = "id"
			}
			s, err := NewSecretDSN(ref, nil)
			if err != nil {
				t.Fatal(err)
			}
			dsn, err := RDSSecretDSN([]byte(tc.json), s.fill, s.params)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), `"x"`) || strings.Contains(err.Error(), "password=x") {
					t.Errorf("error reveals the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkDSN(t, dsn, tc.scheme, tc.host, "u", "x", tc.db)
		})
	}
}

type flaky struct {
	n   int
	err error
}

func (f *flaky) Fetch(context.Context) (string, error) {
	f.n++
	if f.err != nil {
		return "", f.err
	}
	return "v" + string(rune('0'+f.n)), nil
}
func (f *flaky) String() string { return "flaky" }

// A failed re-read serves the older value and retries on the next Get.
func TestCacheServesStaleOnError(t *testing.T) {
	ctx := context.Background()
	src := &flaky{}
	clk := newClock()
	c := NewCache(src, time.Minute, clk.now)
	var stale int
	c.OnStale = func(Source, error) { stale++ }
	if v, _ := c.Get(ctx); v != "v1" {
		t.Fatalf("got %q", v)
	}
	clk.add(time.Minute)
	src.err = errors.New("throttled")
	if v, err := c.Get(ctx); v != "v1" || err != nil || stale != 1 {
		t.Fatalf("got %q, %v, stale=%d", v, err, stale)
	}
	src.err = nil
	if v, _ := c.Get(ctx); v != "v3" {
		t.Fatalf("retry got %q", v)
	}
	if _, err := NewCache(&flaky{err: errors.New("down")}, 0, nil).Get(ctx); err == nil {
		t.Fatal("first read error not returned")
	}
}

func TestDSNLiteralRedacted(t *testing.T) {
	s, err := DSN("mysql://u:secret@h:3306/d", &Clients{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.String(), "secret") {
		t.Errorf("String() = %q", s.String())
	}
	if _, err := DSN("", &Clients{}); err == nil {
		t.Error("empty DSN accepted")
	}
}
