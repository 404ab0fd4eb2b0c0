package lambdatest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Build compiles the Lambda function package pkg (e.g.
// "github.com/sqlfeed/sqlfeed/functions/export") as bootstrap for this
// machine, with the production flags (CGO_ENABLED=0, -tags lambda.norpc),
// into a fresh folder, and returns the binary's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}
