package exporters

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestSetMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	store, _ := fileStore(t)
	t.Setenv("GOMEMLIMIT", "")
	if got := SetMemoryLimit(store); got != 40<<20 || debug.SetMemoryLimit(-1) != 40<<20 {
		t.Fatalf("limit %d, want 40 MiB (20 MiB base + 20 MiB default uploads)", got)
	}
	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "100MiB")
	if got := SetMemoryLimit(store); got != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Fatalf("GOMEMLIMIT set: limit changed to %d", got)
	}
}
