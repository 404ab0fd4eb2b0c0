package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateTemplate(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"validate", "--config", "../../sqlfeed.yaml", "--template", "../../template.yaml"}, &out, &errb)
	if code != exitOK || !strings.Contains(out.String(), "one schedule per feed") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}

	tpl, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "template.yaml")
	os.WriteFile(bad, bytes.Replace(tpl, []byte("ScheduleExpression: rate(1 hour)"), []byte("ScheduleExpression: rate(5 minutes)"), 1), 0o644)
	out.Reset()
	errb.Reset()
	code = run(context.Background(), []string{"validate", "--config", "../../sqlfeed.yaml", "--template", bad}, &out, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), `feed "tracks"`) || !strings.Contains(errb.String(), "rate(5 minutes)") {
		t.Fatalf("exit %d\nstderr: %s", code, errb.String())
	}
}
