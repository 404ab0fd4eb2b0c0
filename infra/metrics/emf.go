// Package metrics writes CloudWatch Embedded Metric Format (EMF) log lines:
// one JSON line per feed run that CloudWatch Logs turns into metrics in the
// "sqlfeed" namespace, dimension Feed. No agent or API call is needed: in
// Lambda, stdout goes to CloudWatch Logs.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of sqlfeed's metrics.
const Namespace = "sqlfeed"

// Metric names, as the template's alarms use them.
const (
	Rows      = "Rows"      // rows read (Count)
	Bytes     = "Bytes"     // document bytes, uncompressed (Bytes)
	Duration  = "Duration"  // run time of the feed (Milliseconds)
	Warnings  = "Warnings"  // values replaced, e.g. NaN or invalid UTF-8 (Count)
	Published = "Published" // 1 when a new version was published (Count)
	Unchanged = "Unchanged" // 1 when the content was unchanged (Count)
	Skipped   = "Skipped"   // 1 when a newer version was already published (Count)
	Failed    = "Failed"    // 1 when the run failed (Count)
	// SinceLastPublish is the seconds since the feed's manifest last confirmed
	// its content (checked_at: a run that published or found it unchanged),
	// reported on every run outcome so that the staleness alarm always has
	// data: about 0 after a success, growing while runs fail or are skipped.
	SinceLastPublish = "SecondsSinceLastPublish"
)

// Feed is what one feed run reports.
type Feed struct {
	Feed       string
	Status     string // success | unchanged | skipped | error
	Version    string
	Rows       int64
	Bytes      int64
	DurationMS int64
	Warnings   int
	// LastPublish is when the feed was last confirmed: the manifest's
	// checked_at (else generated_at). Zero when unknown: then a success
	// reports 0 and any other outcome leaves SecondsSinceLastPublish out.
	LastPublish time.Time
}

// Emitter writes EMF lines to W, one Write per line.
type Emitter struct {
	W         io.Writer
	Namespace string           // Namespace when empty
	Now       func() time.Time // time.Now when nil
	mu        sync.Mutex
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type awsMeta struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Emit writes the line for one feed run.
func (e *Emitter) Emit(f Feed) error {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	ns := e.Namespace
	if ns == "" {
		ns = Namespace
	}
	t := now()
	flag := func(s string) int {
		if f.Status == s {
			return 1
		}
		return 0
	}
	line := map[string]any{
		"Feed":    f.Feed,
		"status":  f.Status,
		Rows:      f.Rows,
		Bytes:     f.Bytes,
		Duration:  f.DurationMS,
		Warnings:  f.Warnings,
		Published: flag("success"),
		Unchanged: flag("unchanged"),
		Skipped:   flag("skipped"),
		Failed:    flag("error"),
	}
	if f.Version != "" {
		line["version"] = f.Version
	}
	defs := []metricDef{
		{Rows, "Count"}, {Bytes, "Bytes"}, {Duration, "Milliseconds"}, {Warnings, "Count"},
		{Published, "Count"}, {Unchanged, "Count"}, {Skipped, "Count"}, {Failed, "Count"},
	}
	switch {
	case !f.LastPublish.IsZero():
		line[SinceLastPublish] = max(0, int64(t.Sub(f.LastPublish)/time.Second))
	case f.Status == "success" || f.Status == "unchanged":
		line[SinceLastPublish] = 0
	}
	if _, ok := line[SinceLastPublish]; ok {
		defs = append(defs, metricDef{SinceLastPublish, "Seconds"})
	}
	line["_aws"] = awsMeta{
		Timestamp:         t.UnixMilli(),
		CloudWatchMetrics: []directive{{Namespace: ns, Dimensions: [][]string{{"Feed"}}, Metrics: defs}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	b = append(b, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.W.Write(b); err != nil {
		return fmt.Errorf("metrics: write: %w", err)
	}
	return nil
}
