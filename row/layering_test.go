package row_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering: adapters (infra/...) import neither the pipeline (exporters),
// the mappers (transform) nor the Lambda application (functions/...), and row
// imports nothing of sqlfeed — checked on the real dependency graph, test
// files excluded.
func TestLayering(t *testing.T) {
	const mod = "github.com/sqlfeed/sqlfeed/"
	rules := []struct {
		pattern   string
		forbidden []string
	}{
		{"../infra/...", []string{mod + "exporters", mod + "transform", mod + "functions", mod + "cmd"}},
		{".", []string{mod}},
	}
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, r.pattern).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", r.pattern, err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) == 0 || lines[0] == "" {
			t.Fatalf("go list %s: no packages", r.pattern)
		}
		for _, line := range lines {
			f := strings.Fields(line)
			for _, dep := range f[1:] {
				for _, bad := range r.forbidden {
					if dep == bad || strings.HasPrefix(dep, strings.TrimSuffix(bad, "/")+"/") {
						t.Errorf("%s depends on %s", f[0], dep)
					}
				}
			}
		}
	}
}
