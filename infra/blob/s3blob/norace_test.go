//go:build !race

package s3blob_test

const raceEnabled = false
