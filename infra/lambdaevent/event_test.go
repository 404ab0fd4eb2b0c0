package lambdaevent

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var fixed = func() time.Time { return time.Date(2026, 11, 22, 14, 3, 7, 500, time.UTC) }

func readEvent(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseTestdataEvents(t *testing.T) {
	r, err := Parse(readEvent(t, "scheduled-event.json"), []string{"tracks"}, fixed)
	if err != nil {
		t.Fatal(err)
	}
	want := Request{Kind: KindScheduled, Feeds: []string{"tracks"}, ScheduledTime: time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC), ID: "cdc73f9d-aea9-11e3-9d5a-835b769c0d9c"}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("scheduled: %+v\nwant %+v", r, want)
	}
	r, err = Parse(readEvent(t, "scheduler-input.json"), nil, fixed)
	if err != nil {
		t.Fatal(err)
	}
	want = Request{Kind: KindDirect, Feeds: []string{"tracks", "albums"}, ScheduledTime: time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("direct: %+v\nwant %+v", r, want)
	}
	if _, err := Parse(readEvent(t, "bad-event.json"), nil, fixed); !IsBadRequest(err) {
		t.Errorf("bad-event.json: err = %v, want a bad request", err)
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		name, in string
		feeds    []string
		when     time.Time
		bad      string
	}{
		{name: "direct all feeds", in: `{"scheduled_time":"2026-11-22T14:00:00.25+01:00"}`, when: time.Date(2026, 11, 22, 13, 0, 0, 250e6, time.UTC)},
		{name: "direct manual run", in: `{"feeds":["genres","genres"]}`, feeds: []string{"genres"}, when: time.Date(2026, 11, 22, 14, 3, 7, 0, time.UTC)},
		{name: "empty object", in: `{}`, bad: "empty event"},
		{name: "array", in: `[1]`, bad: "not a JSON object"},
		{name: "null", in: `null`, bad: "not a JSON object"},
		{name: "nothing", in: ``, bad: "not a JSON object"},
		{name: "truncated", in: `{"feeds":[`, bad: "not valid JSON"},
		{name: "unknown key", in: `{"feed":["tracks"]}`, bad: "unknown field"},
		{name: "bad feed name", in: `{"feeds":["../etc"]}`, bad: "not a feed name"},
		{name: "feeds not array", in: `{"feeds":"tracks"}`, bad: "want"},
		{name: "bad time", in: `{"feeds":["tracks"],"scheduled_time":"yesterday"}`, bad: "RFC 3339"},
		{name: "other detail-type", in: `{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","time":"2026-11-22T14:00:00Z"}`, bad: "detail-type"},
		{name: "scheduled wrong source", in: `{"detail-type":"Scheduled Event","source":"custom","time":"2026-11-22T14:00:00Z"}`, bad: "source"},
		{name: "scheduled no time", in: `{"detail-type":"Scheduled Event","source":"aws.events"}`, bad: "without time"},
		{name: "scheduled bad time", in: `{"detail-type":"Scheduled Event","source":"aws.events","time":"soon"}`, bad: "Scheduled Event"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte(tc.in), nil, fixed)
			if tc.bad != "" {
				if !IsBadRequest(err) || !strings.Contains(err.Error(), tc.bad) {
					t.Fatalf("err = %v, want bad request with %q", err, tc.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Feeds, tc.feeds) || !r.ScheduledTime.Equal(tc.when) || r.ScheduledTime.Location() != time.UTC {
				t.Errorf("got %+v", r)
			}
		})
	}
}

func TestFeedsFromEnv(t *testing.T) {
	f, err := FeedsFromEnv(" tracks, albums,tracks ")
	if err != nil || !reflect.DeepEqual(f, []string{"tracks", "albums"}) {
		t.Errorf("got %v, %v", f, err)
	}
	if f, err := FeedsFromEnv(""); err != nil || f != nil {
		t.Errorf("empty: %v, %v", f, err)
	}
	if _, err := FeedsFromEnv("Tracks"); err == nil {
		t.Error("bad name accepted")
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"scheduled-event.json", "scheduler-input.json", "bad-event.json", "plan.json", "shard.json", "commit.json"} {
		f.Add(readEvent(f, name))
	}
	for _, s := range []string{`{}`, `{"feeds":[]}`, `{"scheduled_time":"2026-01-01T00:00:00Z"}`, `{"detail-type":"Scheduled Event","source":"aws.events","time":"2026-11-22T14:00:00Z"}`, `[]`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b, []string{"tracks"}, fixed)
		if err != nil {
			if !IsBadRequest(err) {
				t.Fatalf("error is not a bad request: %v", err)
			}
			return
		}
		switch r.Kind {
		case KindScheduled, KindDirect:
		case KindPlan, KindShard, KindCommit:
			if len(r.Feeds) != 1 {
				t.Fatalf("%s step with feeds %q", r.Kind, r.Feeds)
			}
			if r.Kind == KindPlan {
				break
			}
			if !runIDRE.MatchString(r.RunID) || !digestRE.MatchString(r.ConfigDigest) || r.Shard < 0 || r.Shard >= MaxShards {
				t.Fatalf("%s step %+v", r.Kind, r)
			}
			return
		default:
			t.Fatalf("kind %q", r.Kind)
		}
		if r.ScheduledTime.IsZero() || r.ScheduledTime.Location() != time.UTC {
			t.Fatalf("time %v", r.ScheduledTime)
		}
		for _, f := range r.Feeds {
			if !feedName.MatchString(f) {
				t.Fatalf("feed %q", f)
			}
		}
	})
}

func TestParseSteps(t *testing.T) {
	const digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	at := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	for _, name := range []string{"plan.json", "shard.json", "commit.json"} {
		r, err := Parse(readEvent(t, name), nil, fixed)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := map[string]Request{
			"plan.json":   {Kind: KindPlan, Feeds: []string{"tracks-paged"}, ScheduledTime: at},
			"shard.json":  {Kind: KindShard, Feeds: []string{"tracks-paged"}, RunID: "1a2b3c4d", ConfigDigest: digest, Shard: 2},
			"commit.json": {Kind: KindCommit, Feeds: []string{"tracks-paged"}, RunID: "1a2b3c4d", ConfigDigest: digest},
		}[name]
		if !reflect.DeepEqual(r, want) {
			t.Errorf("%s: %+v\nwant %+v", name, r, want)
		}
	}
	shard := func(extra string) string {
		return `{"sqlfeed":"shard","feed":"t","run_id":"1a2b3c4d","config_digest":"` + digest + `"` + extra + `}`
	}
	for _, c := range []struct{ name, in, want string }{
		{"manual plan", `{"sqlfeed":"plan","feed":"t"}`, ""},
		{"shard without function", shard(`,"index":0`), ""},
		{"unknown step", `{"sqlfeed":"publish","feed":"t"}`, "want plan, shard or commit"},
		{"step not a string", `{"sqlfeed":1,"feed":"t"}`, "sharded-feed step"},
		{"no feed", `{"sqlfeed":"plan"}`, `"feed" must name a feed`},
		{"bad feed", `{"sqlfeed":"plan","feed":"../x"}`, `"feed" must name a feed`},
		{"feeds list", `{"sqlfeed":"plan","feeds":["t"]}`, "unknown field"},
		{"plan with index", `{"sqlfeed":"plan","feed":"t","index":1}`, `unexpected key "index"`},
		{"plan in the future", `{"sqlfeed":"plan","feed":"t","scheduled_time":"2026-11-22T15:00:00Z"}`, "in the future"},
		{"plan with a bad time", `{"sqlfeed":"plan","feed":"t","scheduled_time":"yesterday"}`, "not an RFC 3339 time"},
		{"shard without index", shard(``), `"index" must be`},
		{"negative index", shard(`,"index":-1`), `"index" must be`},
		{"huge index", shard(`,"index":100000`), `"index" must be`},
		{"fractional index", shard(`,"index":1.5`), "sharded-feed step"},
		{"string index", shard(`,"index":"1"`), "sharded-feed step"},
		{"empty function", shard(`,"index":1,"function":""`), `"function" is empty`},
		{"shard with a time", shard(`,"index":1,"scheduled_time":"2026-11-22T14:00:00Z"`), `unexpected key "scheduled_time"`},
		{"commit with index", `{"sqlfeed":"commit","feed":"t","run_id":"1a2b3c4d","config_digest":"` + digest + `","index":0}`, `unexpected key "index"`},
		{"upper-case run id", `{"sqlfeed":"commit","feed":"t","run_id":"1A2B3C4D","config_digest":"` + digest + `"}`, `"run_id" must be`},
		{"short digest", `{"sqlfeed":"commit","feed":"t","run_id":"1a2b3c4d","config_digest":"abc"}`, `"config_digest" must be`},
		{"no digest", `{"sqlfeed":"commit","feed":"t","run_id":"1a2b3c4d"}`, `"config_digest" must be`},
		{"trailing text", `{"sqlfeed":"plan","feed":"t"} {}`, "not valid JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := Parse([]byte(c.in), nil, fixed)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if r.Kind == KindPlan && !r.ScheduledTime.Equal(fixed().Truncate(time.Second)) {
					t.Errorf("manual plan at %v", r.ScheduledTime)
				}
				return
			}
			if !IsBadRequest(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want a bad request with %q", err, c.want)
			}
		})
	}
}

func TestParsePreTraffic(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Request
		bad  bool
	}{
		{`{"pretraffic": {}}`, Request{Kind: KindPreTraffic}, false},
		{`{"pretraffic": {"feed": "genres"}}`, Request{Kind: KindPreTraffic, Feeds: []string{"genres"}}, false},
		{`{"pretraffic": {"feed": "../x"}}`, Request{}, true},
		{`{"pretraffic": {"feeds": ["genres"]}}`, Request{}, true},
		{`{"pretraffic": {}, "feeds": ["genres"]}`, Request{}, true},
	} {
		r, err := Parse([]byte(c.in), nil, fixed)
		if c.bad {
			if !IsBadRequest(err) {
				t.Errorf("%s: %+v, %v; want a bad request", c.in, r, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(r, c.want) {
			t.Errorf("%s: %+v, %v; want %+v", c.in, r, err, c.want)
		}
	}
}

// TestHostileFutureScheduledTime: a time more than 5 minutes ahead of the
// clock would name a version every later run loses to (a frozen feed), so it
// is a bad request; within 5 minutes (clock skew) it is accepted.
func TestHostileFutureScheduledTime(t *testing.T) {
	now := fixed()
	cases := []struct {
		name, in string
		bad      bool
	}{
		{"year 2999", `{"feeds":["tracks"],"scheduled_time":"2999-01-01T00:00:00Z"}`, true},
		{"just over 5 minutes", `{"scheduled_time":"` + now.Add(5*time.Minute+time.Second).Format(time.RFC3339) + `"}`, true},
		{"Scheduled Event from the future", `{"detail-type":"Scheduled Event","source":"aws.events","time":"2999-01-01T00:00:00Z"}`, true},
		{"5 minutes ahead", `{"scheduled_time":"` + now.Truncate(time.Second).Add(5*time.Minute).Format(time.RFC3339) + `"}`, false},
		{"Scheduled Event a minute ahead", `{"detail-type":"Scheduled Event","source":"aws.events","time":"` + now.Add(time.Minute).Format(time.RFC3339) + `"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in), nil, fixed)
			if tc.bad {
				if !IsBadRequest(err) || !strings.Contains(err.Error(), "more than 5 minutes in the future") {
					t.Fatalf("err = %v, want a bad request about the future", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
