package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// parsed is an EMF line as CloudWatch reads it.
type parsed struct {
	AWS struct {
		Timestamp         int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	} `json:"_aws"`
	Fields map[string]any `json:"-"`
}

func parseLines(t *testing.T, b []byte) []parsed {
	t.Helper()
	var out []parsed
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var p parsed
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if err := json.Unmarshal(sc.Bytes(), &p.Fields); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func TestEmitEMF(t *testing.T) {
	now := time.Date(2026, 11, 22, 14, 0, 30, 0, time.UTC)
	var buf bytes.Buffer
	e := &Emitter{W: &buf, Now: func() time.Time { return now }}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.Emit(Feed{Feed: "tracks", Status: "success", Version: "v1", Rows: 3503, Bytes: 123456, DurationMS: 840, Warnings: 2}))
	must(e.Emit(Feed{Feed: "albums", Status: "unchanged", Rows: 347}))
	must(e.Emit(Feed{Feed: "genres", Status: "error", LastPublish: now.Add(-2 * time.Hour)}))
	must(e.Emit(Feed{Feed: "artists", Status: "error"}))
	must(e.Emit(Feed{Feed: "playlists", Status: "skipped", LastPublish: now.Add(-90 * time.Second)}))
	must(e.Emit(Feed{Feed: "invoices", Status: "unchanged", LastPublish: now.Add(-1 * time.Second)}))
	lines := parseLines(t, buf.Bytes())
	if len(lines) != 6 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, l := range lines {
		if l.AWS.Timestamp != now.UnixMilli() || len(l.AWS.CloudWatchMetrics) != 1 {
			t.Fatalf("line %d: bad _aws %+v", i, l.AWS)
		}
		d := l.AWS.CloudWatchMetrics[0]
		if d.Namespace != "sqlfeed" || len(d.Dimensions) != 1 || d.Dimensions[0][0] != "Feed" {
			t.Errorf("line %d: directive %+v", i, d)
		}
		if _, ok := l.Fields["Feed"].(string); !ok {
			t.Errorf("line %d: no Feed dimension value", i)
		}
		// Every declared metric has a numeric value on the line.
		for _, m := range d.Metrics {
			if _, ok := l.Fields[m.Name].(float64); !ok {
				t.Errorf("line %d: metric %s has no numeric value", i, m.Name)
			}
			if m.Unit == "" {
				t.Errorf("line %d: metric %s has no unit", i, m.Name)
			}
		}
	}
	want := []map[string]float64{
		{Rows: 3503, Bytes: 123456, Duration: 840, Warnings: 2, Published: 1, Unchanged: 0, Failed: 0, SinceLastPublish: 0},
		{Rows: 347, Published: 0, Unchanged: 1, Failed: 0, SinceLastPublish: 0},
		{Published: 0, Failed: 1, SinceLastPublish: 7200},
		{Failed: 1},
		{Skipped: 1, SinceLastPublish: 90},
		{Unchanged: 1, SinceLastPublish: 1},
	}
	for i, w := range want {
		for k, v := range w {
			if got := lines[i].Fields[k]; got != v {
				t.Errorf("line %d (%v): %s = %v, want %v", i, lines[i].Fields["Feed"], k, got, v)
			}
		}
	}
	if _, ok := lines[3].Fields[SinceLastPublish]; ok {
		t.Error("unknown last success still reported an age")
	}
	for _, m := range lines[3].AWS.CloudWatchMetrics[0].Metrics {
		if m.Name == SinceLastPublish {
			t.Error("unknown last success still declares the age metric")
		}
	}
}
