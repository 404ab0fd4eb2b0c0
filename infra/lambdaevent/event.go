// Package lambdaevent parses what the export function is invoked with
// (CONTRACT §6): a classic CloudWatch/EventBridge "Scheduled Event", a direct
// input {"feeds": [...], "scheduled_time": "..."} such as EventBridge Scheduler
// sends with <aws.scheduler.scheduled-time>, the deploy's pre-traffic test, or
// a step of a sharded feed's state machine ({"sqlfeed": "plan"|"shard"|"commit",
// ...}, README "Sharded feeds"). Anything else is a bad request.
package lambdaevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Kinds of invocation.
const (
	KindScheduled = "scheduled-event" // classic Scheduled Event
	KindDirect    = "direct"          // {"feeds", "scheduled_time"}
	// KindPreTraffic is the deploy's self-test, {"pretraffic": {"feed": "genres"}}
	// (feed optional): validate every feed against the database and export one
	// to the state prefix, publishing nothing.
	KindPreTraffic = "pretraffic"
	// The steps of a sharded feed (README "Sharded feeds"):
	// {"sqlfeed": "plan", "feed", "scheduled_time"?},
	// {"sqlfeed": "shard", "feed", "run_id", "index", "config_digest"} and
	// {"sqlfeed": "commit", "feed", "run_id", "config_digest"}.
	KindPlan   = "plan"
	KindShard  = "shard"
	KindCommit = "commit"
)

// Request is a parsed invocation.
type Request struct {
	Kind string
	// Feeds to run; empty means every feed of the config.
	Feeds []string
	// ScheduledTime names the version; a retried or duplicated event carries the same one.
	ScheduledTime time.Time
	// ID is the event id of a Scheduled Event.
	ID string
	// RunID (8 lowercase hex) and ConfigDigest (64 lowercase hex) name the
	// plan of a shard or commit step; Shard is the shard's index.
	RunID, ConfigDigest string
	Shard               int
}

// BadRequest is the error for an event that is neither form.
type BadRequest struct{ Reason string }

// Error returns "bad request: " and the reason.
func (e *BadRequest) Error() string { return "bad request: " + e.Reason }

// IsBadRequest reports whether err is (or wraps) a *BadRequest.
func IsBadRequest(err error) bool {
	var b *BadRequest
	return errors.As(err, &b)
}

func bad(format string, a ...any) error { return &BadRequest{Reason: fmt.Sprintf(format, a...)} }

var feedName = regexp.MustCompile(`^[a-z0-9-]+$`)

// MaxFuture is how far ahead of the clock a scheduled time may be (clock
// skew). A later one would name a version every run after it loses to.
const MaxFuture = 5 * time.Minute

// notFuture refuses a time more than MaxFuture ahead of now.
func notFuture(what string, t, now time.Time) error {
	if t.After(now.Add(MaxFuture)) {
		return bad("%s %s is more than 5 minutes in the future (clock: %s): its version would make every later run skip",
			what, t.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// FeedsFromEnv splits SQLFEED_FEEDS ("tracks,albums" or spaces); empty means all.
func FeedsFromEnv(v string) ([]string, error) {
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		if !feedName.MatchString(f) {
			return nil, fmt.Errorf("SQLFEED_FEEDS: %q is not a feed name ([a-z0-9-]+)", f)
		}
		out = append(out, f)
	}
	return dedup(out), nil
}

func dedup(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, f := range in {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// direct is the direct-input form.
type direct struct {
	Feeds         *[]string `json:"feeds"`
	ScheduledTime *string   `json:"scheduled_time"`
}

// Parse reads payload. scheduledFeeds are the feeds a Scheduled Event runs
// (SQLFEED_FEEDS; nil = all); now (nil: time.Now) is the clock for a direct
// input without scheduled_time (a manual run), and a scheduled time more than
// MaxFuture ahead of it is refused. Errors are *BadRequest.
func Parse(payload []byte, scheduledFeeds []string, now func() time.Time) (Request, error) {
	if now == nil {
		now = time.Now
	}
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || payload[0] != '{' {
		return Request{}, bad("the event is not a JSON object")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(payload, &keys); err != nil {
		return Request{}, bad("the event is not valid JSON: %v", err)
	}
	if _, ok := keys["detail-type"]; ok {
		return parseScheduled(payload, scheduledFeeds, now)
	}
	if raw, ok := keys["pretraffic"]; ok && len(keys) == 1 {
		return parsePreTraffic(raw)
	}
	if _, ok := keys["sqlfeed"]; ok {
		return parseStep(payload, now)
	}
	if len(keys) == 0 {
		return Request{}, bad(`empty event: send a Scheduled Event or {"feeds": [...], "scheduled_time": "..."}`)
	}
	return parseDirect(payload, now)
}

func parseScheduled(payload []byte, feeds []string, now func() time.Time) (Request, error) {
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return Request{}, bad("Scheduled Event: %v", err)
	}
	if ev.DetailType != "Scheduled Event" {
		return Request{}, bad("detail-type %q: only \"Scheduled Event\" is handled", ev.DetailType)
	}
	if ev.Source != "aws.events" {
		return Request{}, bad("Scheduled Event from source %q: want aws.events", ev.Source)
	}
	if ev.Time.IsZero() {
		return Request{}, bad("Scheduled Event without time")
	}
	if err := notFuture("Scheduled Event time", ev.Time, now()); err != nil {
		return Request{}, err
	}
	return Request{Kind: KindScheduled, Feeds: append([]string(nil), feeds...), ScheduledTime: ev.Time.UTC(), ID: ev.ID}, nil
}

func parseDirect(payload []byte, now func() time.Time) (Request, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var d direct
	if err := dec.Decode(&d); err != nil {
		return Request{}, bad(`want {"feeds": [...], "scheduled_time": "..."}: %v`, err)
	}
	if d.Feeds == nil && d.ScheduledTime == nil {
		return Request{}, bad(`want {"feeds": [...], "scheduled_time": "..."}`)
	}
	r := Request{Kind: KindDirect}
	if d.Feeds != nil {
		for _, f := range *d.Feeds {
			if !feedName.MatchString(f) {
				return Request{}, bad("feed %q is not a feed name ([a-z0-9-]+)", f)
			}
		}
		r.Feeds = dedup(append([]string(nil), *d.Feeds...))
	}
	if d.ScheduledTime == nil {
		r.ScheduledTime = now().UTC().Truncate(time.Second)
		return r, nil
	}
	t, err := scheduledTime(*d.ScheduledTime, now)
	if err != nil {
		return Request{}, err
	}
	r.ScheduledTime = t
	return r, nil
}

// scheduledTime parses a scheduled_time: RFC 3339, years 2000-9999, not more
// than MaxFuture ahead of now; in UTC.
func scheduledTime(v string, now func() time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, bad("scheduled_time %q is not an RFC 3339 time", v)
	}
	if t.Year() < 2000 || t.Year() > 9999 {
		return time.Time{}, bad("scheduled_time %q is out of range", v)
	}
	if err := notFuture("scheduled_time", t, now()); err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

func parsePreTraffic(raw json.RawMessage) (Request, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var p struct {
		Feed string `json:"feed"`
	}
	if err := dec.Decode(&p); err != nil {
		return Request{}, bad(`want {"pretraffic": {"feed": "name"}}: %v`, err)
	}
	r := Request{Kind: KindPreTraffic}
	if p.Feed != "" {
		if !feedName.MatchString(p.Feed) {
			return Request{}, bad("feed %q is not a feed name ([a-z0-9-]+)", p.Feed)
		}
		r.Feeds = []string{p.Feed}
	}
	return r, nil
}

// step is the payload of a sharded feed's step; which keys a step takes is
// checked in parseStep.
type step struct {
	Step          string  `json:"sqlfeed"`
	Feed          *string `json:"feed"`
	ScheduledTime *string `json:"scheduled_time"`
	RunID         *string `json:"run_id"`
	Index         *int    `json:"index"`
	ConfigDigest  *string `json:"config_digest"`
	// Function is the version ARN the state machine invokes (the plan's
	// items carry it); informational, the runtime knows its own version.
	Function *string `json:"function"`
}

// MaxShards bounds a shard index (a plan never has more ranges).
const MaxShards = 100000

var (
	runIDRE  = regexp.MustCompile(`^[0-9a-f]{8}$`)
	digestRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func parseStep(payload []byte, now func() time.Time) (Request, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var s step
	if err := dec.Decode(&s); err != nil {
		return Request{}, bad(`sharded-feed step: %v`, err)
	}
	r := Request{Kind: s.Step}
	// allowed lists the optional keys the step takes beyond sqlfeed and feed.
	var allowed map[string]bool
	switch s.Step {
	case KindPlan:
		allowed = map[string]bool{"scheduled_time": true}
	case KindShard:
		allowed = map[string]bool{"run_id": true, "index": true, "config_digest": true, "function": true}
	case KindCommit:
		allowed = map[string]bool{"run_id": true, "config_digest": true, "function": true}
	default:
		return Request{}, bad(`"sqlfeed": %q: want plan, shard or commit`, s.Step)
	}
	for _, k := range []struct {
		key string
		set bool
	}{{"scheduled_time", s.ScheduledTime != nil}, {"run_id", s.RunID != nil}, {"index", s.Index != nil},
		{"config_digest", s.ConfigDigest != nil}, {"function", s.Function != nil}} {
		if k.set && !allowed[k.key] {
			return Request{}, bad("%s step: unexpected key %q", s.Step, k.key)
		}
	}
	if s.Feed == nil || !feedName.MatchString(*s.Feed) {
		return Request{}, bad(`%s step: "feed" must name a feed ([a-z0-9-]+)`, s.Step)
	}
	r.Feeds = []string{*s.Feed}
	if s.Step == KindPlan {
		r.ScheduledTime = now().UTC().Truncate(time.Second)
		if s.ScheduledTime != nil {
			t, err := scheduledTime(*s.ScheduledTime, now)
			if err != nil {
				return Request{}, err
			}
			r.ScheduledTime = t
		}
		return r, nil
	}
	if s.RunID == nil || !runIDRE.MatchString(*s.RunID) {
		return Request{}, bad(`%s step: "run_id" must be 8 lowercase hex digits`, s.Step)
	}
	if s.ConfigDigest == nil || !digestRE.MatchString(*s.ConfigDigest) {
		return Request{}, bad(`%s step: "config_digest" must be 64 lowercase hex digits`, s.Step)
	}
	if s.Function != nil && *s.Function == "" {
		return Request{}, bad(`%s step: "function" is empty`, s.Step)
	}
	r.RunID, r.ConfigDigest = *s.RunID, *s.ConfigDigest
	if s.Step == KindShard {
		if s.Index == nil || *s.Index < 0 || *s.Index >= MaxShards {
			return Request{}, bad(`shard step: "index" must be an integer from 0 to %d`, MaxShards-1)
		}
		r.Shard = *s.Index
	}
	return r, nil
}
