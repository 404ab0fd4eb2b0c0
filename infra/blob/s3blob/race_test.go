//go:build race

package s3blob_test

// raceEnabled: the race detector multiplies memory, so memory is measured on a
// binary built without it.
const raceEnabled = true
