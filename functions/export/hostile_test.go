package main

import (
	"context"
	"strings"
	"testing"
)

// TestHostileDSNPasswordLambda: the real bootstrap with a password in a DSN
// parameter shows it nowhere: not in the init line, the log, the metrics
// or the error response (issue 12, item 5).
func TestHostileDSNPasswordLambda(t *testing.T) {
	const secret = "TopSecret123"
	for _, dsn := range []string{
		"postgres://nosuchuser@127.0.0.1:5432/test?sslmode=disable&password=" + secret,
		"postgres://nosuchuser:" + secret + "@127.0.0.1:5432/test?sslmode=disable&sslpassword=" + secret,
		"mysql://nosuchuser:" + secret + "@127.0.0.1:3306/test",
	} {
		rt := start(t, "SQLFEED_DB="+dsn, "SQLFEED_TO=file://"+t.TempDir())
		res, err := rt.Invoke(context.Background(), []byte(`{"feeds":["genres"],"scheduled_time":"2026-11-22T14:00:00Z"}`))
		if err != nil {
			t.Fatal(err)
		}
		if res.Error == nil {
			t.Fatalf("invocation succeeded: %s", res.Response)
		}
		rt.Stop()
		all := res.Error.ErrorMessage + string(res.Response) + rt.Stdout() + rt.Stderr()
		if strings.Contains(all, secret) || !strings.Contains(rt.Stderr(), `"msg":"init"`) || !strings.Contains(res.Error.ErrorMessage, "127.0.0.1") {
			t.Errorf("%s: error %s\nstdout:\n%s\nstderr:\n%s", dsn[:20], res.Error.ErrorMessage, rt.Stdout(), rt.Stderr())
		}
	}
}
