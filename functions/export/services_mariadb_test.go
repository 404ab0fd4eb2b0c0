package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/sqlfeed/sqlfeed/infra/lambdatest"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

// The acceptance runs on real servers: MariaDB (Chinook) → the bootstrap under
// the Runtime API harness → MinIO, read back anonymously over HTTP.

// functionConnections lists the ids of the server sessions on db other than
// the test's own (admin) ones.
func functionConnections(t *testing.T, db *testsvc.DB, admin map[int64]bool) []int64 {
	t.Helper()
	rows, err := db.Admin.Query(`SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()`, db.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		if !admin[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestMariaDBToMinIO(t *testing.T) {
	m := testsvc.StartMinIO(t)
	db := testsvc.MySQL(t)
	db.LoadChinook(t)
	db.Admin.SetMaxOpenConns(1)
	// Sessions open before the function starts are the test's own.
	admin := map[int64]bool{}
	for _, id := range functionConnections(t, db, nil) {
		admin[id] = true
	}

	rt := lambdatest.Start(t, function(t), lambdatest.Options{Env: append(minioEnv(m), "SQLFEED_DB="+db.DSN, "SQLFEED_FEEDS=tracks,genres")})
	initTime, err := rt.WaitReady(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("init with MariaDB (settings, connect) and MinIO: %v", initTime)
	resp, failed := invoke(t, rt, event(t, "scheduled-event.json"))
	if failed || resp.Status != "success" {
		t.Fatalf("scheduled event: %+v\n%s", resp, rt.Stderr())
	}
	if got := statuses(resp); got["tracks"] != "success" || got["genres"] != "success" {
		t.Fatalf("statuses %v", got)
	}
	if code, _ := anonymousGet(t, m.ObjectURL(m.Prefix+"/tracks/latest.json")); code != 200 {
		t.Fatalf("anonymous GET tracks/latest.json: %d", code)
	}
	if resp, failed := invoke(t, rt, event(t, "scheduled-event.json")); failed || statuses(resp)["tracks"] != "skipped" {
		t.Fatalf("duplicate: %+v", resp)
	}
	if v := keys(t, m, m.Prefix+"/tracks/versions/"); len(v) != 1 {
		t.Errorf("tracks versions after a duplicate: %v", v)
	}

	// Ten warm invocations: one server session, the same one throughout.
	first := functionConnections(t, db, admin)
	for i := 0; i < 10; i++ {
		ev := fmt.Sprintf(`{"feeds":["genres"],"scheduled_time":"2026-11-22T15:%02d:00Z"}`, i)
		if resp, failed := invoke(t, rt, []byte(ev)); failed || resp.Status != "success" {
			t.Fatalf("invocation %d: %+v", i, resp)
		}
	}
	last := functionConnections(t, db, admin)
	if len(first) != 1 || len(last) != 1 || first[0] != last[0] {
		t.Fatalf("function sessions on MariaDB: before %v, after ten invocations %v; want the same single one", first, last)
	}
	t.Logf("ten warm invocations used MariaDB session %d only", last[0])
}

// A database server that goes down under the warm function: the invocation
// fails with the JSON response and the previous version stays served; when
// the server is back, the next invocation publishes again on a new connection.
func TestMariaDBDownKeepsPreviousVersion(t *testing.T) {
	m := testsvc.StartMinIO(t)
	srv := testsvc.PrivateServer(t, "mysql")
	admin, err := sql.Open("mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/test", srv.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, q := range []string{
		"CREATE TABLE colour (id INT PRIMARY KEY, name VARCHAR(20))",
		"INSERT INTO colour VALUES (1, 'red'), (2, 'green')",
	} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	admin.Close()
	cfg := filepath.Join(t.TempDir(), "sqlfeed.yaml")
	os.WriteFile(cfg, []byte(`version: 1
feeds:
  - name: colours
    schedule: rate(1 hour)
    query: SELECT id, name FROM colour ORDER BY id
    fields: {id: id, name: name}
`), 0o644)
	rt := start(t, append(minioEnv(m), "SQLFEED_DB="+srv.DSN, "SQLFEED_CONFIG="+cfg)...)
	if resp, failed := invoke(t, rt, []byte(`{"feeds":["colours"],"scheduled_time":"2026-11-22T14:00:00Z"}`)); failed || resp.Status != "success" {
		t.Fatalf("first run: %+v\n%s", resp, rt.Stderr())
	}
	latestURL := m.ObjectURL(m.Prefix + "/colours/latest.json")
	_, latest := anonymousGet(t, latestURL)

	srv.Stop(t)
	res, err := rt.Invoke(context.Background(), []byte(`{"feeds":["colours"],"scheduled_time":"2026-11-22T15:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Error == nil || !strings.HasPrefix(res.Error.ErrorMessage, `{"status":"error"`) {
		t.Fatalf("want a failed invocation with the JSON response, got %+v %s", res.Error, res.Response)
	}
	t.Logf("error text with the database down: %s", res.Error.ErrorMessage)
	if code, body := anonymousGet(t, latestURL); code != 200 || body != latest {
		t.Errorf("latest.json after the failure: %d, changed=%v", code, body != latest)
	}
	if v := keys(t, m, m.Prefix+"/colours/versions/"); len(v) != 1 {
		t.Errorf("versions after the failure: %v", v)
	}
	if n := m.PendingMultipartUploads(); n != 0 {
		t.Errorf("%d multipart uploads left", n)
	}

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if resp, failed := invoke(t, rt, []byte(`{"feeds":["colours"],"scheduled_time":"2026-11-22T16:00:00Z"}`)); failed || resp.Status != "success" {
		t.Fatalf("after the server is back: %+v\n%s", resp, rt.Stderr())
	}
}

// Acceptance 6 on a real server: the DSN comes from a Secrets Manager secret
// with a password; the run succeeds and no log line, metric line or response
// shows the password or the DSN with it.
func TestSecretDSNOnMariaDB(t *testing.T) {
	env, cfg := moto(t)
	db := testsvc.MySQL(t)
	db.LoadChinook(t)
	const password = "Pa55:w/rd@with?all#the%trouble"
	user := "u" + db.Name
	if len(user) > 32 {
		user = user[:32]
	}
	db.Exec(t, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, password))
	t.Cleanup(func() { db.Admin.Exec(fmt.Sprintf("DROP USER '%s'@'%%'", user)) })
	db.Exec(t, fmt.Sprintf("GRANT SELECT ON `%s`.* TO '%s'@'%%'", db.Name, user))
	u, _ := url.Parse(db.DSN)
	secret, _ := json.Marshal(map[string]any{"engine": "mariadb", "host": u.Hostname(), "port": u.Port(),
		"username": user, "password": password, "dbname": db.Name})
	ctx := context.Background()
	if _, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("sqlfeed/mariadb"), SecretString: aws.String(string(secret))}); err != nil {
		t.Fatal(err)
	}
	pub := t.TempDir()
	rt := start(t, append(env, "SQLFEED_DB=secretsmanager://sqlfeed/mariadb", "SQLFEED_TO=file://"+pub)...)
	res, err := rt.Invoke(ctx, event(t, "scheduler-input.json"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Error != nil || !strings.Contains(string(res.Response), `"status":"success"`) {
		t.Fatalf("run with the secret DSN: %+v %s\n%s", res.Error, res.Response, rt.Stderr())
	}
	texts := map[string]string{"logs": rt.Stderr(), "metrics": rt.Stdout(), "response": string(res.Response)}
	for where, text := range texts {
		for _, s := range []string{password, url.QueryEscape(password), url.PathEscape(password), url.UserPassword(user, password).String()} {
			if strings.Contains(text, s) {
				t.Errorf("%s contain the secret (%q)", where, s)
			}
		}
	}
	if !strings.Contains(rt.Stderr(), "secretsmanager://sqlfeed/mariadb") {
		t.Errorf("the logs do not name the secret the DSN came from:\n%s", rt.Stderr())
	}
}
