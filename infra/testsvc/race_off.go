//go:build !race

package testsvc

// RaceEnabled reports whether the race detector is on.
const RaceEnabled = false
