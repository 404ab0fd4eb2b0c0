// Package samtemplate reads the SAM template (template.yaml) and checks what
// the product promises about it: one schedule per feed with the feed's
// expression from sqlfeed.yaml (a sharded feed's on the state machine, the
// others on the function), and the security properties of CONTRACT §7.
// `sqlfeed validate --template` and the repository's tests both use it.
package samtemplate

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Schedule is one schedule event of a function or state machine.
type Schedule struct {
	Function string // logical id of the function or state machine
	// StateMachine is true for a state machine's schedule (sharded feeds):
	// its input is the plan payload {"sqlfeed": "plan", "feed": …}.
	StateMachine bool
	Event        string // event name under Events
	Type         string // ScheduleV2 or Schedule
	Expression   string
	Feeds        []string // feeds named by its input
}

func parse(templateYAML []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(templateYAML, &doc); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	if get(&doc, "Resources") == nil {
		return nil, errors.New("template: no Resources")
	}
	return &doc, nil
}

// Schedules lists the schedule events (ScheduleV2 and classic Schedule) of the
// template's functions and state machines with the feeds their input names.
func Schedules(templateYAML []byte) ([]Schedule, error) {
	doc, err := parse(templateYAML)
	if err != nil {
		return nil, err
	}
	var out []Schedule
	var errs []error
	for _, r := range resources(doc, "AWS::Serverless::Function", "AWS::Serverless::StateMachine") {
		machine := r.Type == "AWS::Serverless::StateMachine"
		each(get(r.Props, "Events"), func(name string, ev *yaml.Node) {
			typ := str(get(ev, "Type"))
			if typ != "ScheduleV2" && typ != "Schedule" {
				return
			}
			s := Schedule{Function: r.Name, StateMachine: machine, Event: name, Type: typ, Expression: str(get(ev, "Properties", "Schedule"))}
			if typ == "ScheduleV2" {
				s.Expression = str(get(ev, "Properties", "ScheduleExpression"))
			}
			input := str(get(ev, "Properties", "Input"))
			var in struct {
				Step  string   `json:"sqlfeed"`
				Feed  string   `json:"feed"`
				Feeds []string `json:"feeds"`
			}
			ok := input != "" && json.Unmarshal([]byte(input), &in) == nil
			switch {
			case machine && (!ok || in.Step != "plan" || in.Feed == ""):
				errs = append(errs, fmt.Errorf("template: %s event %s: its Input must be the plan payload, e.g. {\"sqlfeed\": \"plan\", \"feed\": \"tracks\", \"scheduled_time\": \"<aws.scheduler.scheduled-time>\"}", r.Name, name))
				return
			case !machine && (!ok || len(in.Feeds) == 0):
				errs = append(errs, fmt.Errorf("template: %s event %s: its Input must be JSON naming the feeds, e.g. {\"feeds\": [\"tracks\"], \"scheduled_time\": \"<aws.scheduler.scheduled-time>\"}", r.Name, name))
				return
			}
			if typ == "ScheduleV2" && !strings.Contains(input, "<aws.scheduler.scheduled-time>") {
				errs = append(errs, fmt.Errorf("template: %s event %s: Input lacks \"scheduled_time\": \"<aws.scheduler.scheduled-time>\" (versions must be named by the scheduled time)", r.Name, name))
			}
			s.Feeds = in.Feeds
			if machine {
				s.Feeds = []string{in.Feed}
			}
			out = append(out, s)
		})
	}
	return out, errors.Join(errs...)
}

// CheckSchedules checks that every feed (name → schedule expression, from
// sqlfeed.yaml) has exactly one schedule in the template with the same
// expression, on the state machine for the sharded feeds (those set in
// sharded) and on the function for the others, and that no schedule names a
// feed that does not exist.
func CheckSchedules(templateYAML []byte, feeds map[string]string, sharded map[string]bool) error {
	scheds, err := Schedules(templateYAML)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	seen := map[string][]Schedule{}
	for _, s := range scheds {
		for _, f := range s.Feeds {
			seen[f] = append(seen[f], s)
			if _, ok := feeds[f]; !ok {
				errs = append(errs, fmt.Errorf("template: %s event %s names feed %q, which sqlfeed.yaml does not have", s.Function, s.Event, f))
			}
		}
	}
	names := make([]string, 0, len(feeds))
	var shardedNames []string
	for f := range feeds {
		names = append(names, f)
		if sharded[f] {
			shardedNames = append(shardedNames, f)
		}
	}
	sort.Strings(names)
	sort.Strings(shardedNames)
	if doc, err := parse(templateYAML); err == nil && len(resources(doc, "AWS::Serverless::StateMachine")) > 0 {
		// make smoke starts the state machine once for each of these.
		got := strings.Join(strings.Fields(strings.ReplaceAll(str(get(doc, "Outputs", "ShardedFeeds", "Value")), ",", " ")), ",")
		if want := strings.Join(shardedNames, ","); got != want {
			errs = append(errs, fmt.Errorf("template: output ShardedFeeds is %q, want the sharded feeds %q", got, want))
		}
	}
	for _, f := range names {
		want := feeds[f]
		got := seen[f]
		switch {
		case len(got) == 0:
			errs = append(errs, fmt.Errorf("template: feed %q (schedule %s) has no schedule in the template", f, want))
		case len(got) > 1:
			errs = append(errs, fmt.Errorf("template: feed %q has %d schedules (%s and %s); want one", f, len(got), got[0].Event, got[1].Event))
		case normalize(got[0].Expression) != normalize(want):
			errs = append(errs, fmt.Errorf("template: feed %q: %s event %s runs %s, sqlfeed.yaml says %s", f, got[0].Function, got[0].Event, got[0].Expression, want))
		case sharded[f] && !got[0].StateMachine:
			errs = append(errs, fmt.Errorf("template: feed %q is sharded: %s event %s invokes the function directly; schedule it on the state machine", f, got[0].Function, got[0].Event))
		case !sharded[f] && got[0].StateMachine:
			errs = append(errs, fmt.Errorf("template: feed %q is not sharded: state machine %s event %s runs it; schedule the function directly", f, got[0].Function, got[0].Event))
		}
	}
	return errors.Join(errs...)
}

// normalize collapses white space so "rate(1  hour)" equals "rate(1 hour)".
func normalize(expr string) string { return strings.Join(strings.Fields(expr), " ") }
