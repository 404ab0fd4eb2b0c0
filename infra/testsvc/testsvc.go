// Package testsvc finds the real servers tests talk to (MariaDB, PostgreSQL,
// MinIO). When one is missing a test skips with one line saying how to provide
// it, except under CI=true, where a missing server fails the test.
package testsvc

import (
	"os"
	"testing"
)

// InCI reports whether tests run in CI, where every server must be present.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing skips t (or fails it in CI) because the server what is unavailable.
// how tells a developer how to provide it.
func Missing(t testing.TB, what string, err error, how string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is required in CI and is unavailable: %v", what, err)
	}
	t.Skipf("skipping: %s unavailable (%v); %s", what, err, how)
}

// Env returns the environment variable key, or def when it is unset.
func Env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

// Heavy marks a long data-volume test (millions of rows, gigabytes). Under the
// race detector, which slows it tenfold, it is skipped: `make test` runs these
// tests in a second pass without -race (go test -run Heavy).
func Heavy(t testing.TB) {
	t.Helper()
	if RaceEnabled {
		t.Skip("heavy test: run without -race (make test runs it in its second pass)")
	}
	if testing.Short() {
		t.Skip("heavy test: skipped in -short mode")
	}
}
