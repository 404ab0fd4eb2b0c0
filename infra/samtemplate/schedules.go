// Package samtemplate reads the SAM template (template.yaml) and checks what
// the product promises about it: one schedule per feed with the feed's
// expression from sqlfeed.yaml, and the security properties of CONTRACT §7.
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

// Schedule is one schedule event of a function.
type Schedule struct {
	Function   string // logical id of the function
	Event      string // event name under Events
	Type       string // ScheduleV2 or Schedule
	Expression string
	Feeds      []string // feeds named by its input
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
// template's functions with the feeds their input names.
func Schedules(templateYAML []byte) ([]Schedule, error) {
	doc, err := parse(templateYAML)
	if err != nil {
		return nil, err
	}
	var out []Schedule
	var errs []error
	for _, fn := range resources(doc, "AWS::Serverless::Function") {
		each(get(fn.Props, "Events"), func(name string, ev *yaml.Node) {
			typ := str(get(ev, "Type"))
			if typ != "ScheduleV2" && typ != "Schedule" {
				return
			}
			s := Schedule{Function: fn.Name, Event: name, Type: typ, Expression: str(get(ev, "Properties", "Schedule"))}
			if typ == "ScheduleV2" {
				s.Expression = str(get(ev, "Properties", "ScheduleExpression"))
			}
			input := str(get(ev, "Properties", "Input"))
			var in struct {
				Feeds []string `json:"feeds"`
			}
			if input == "" || json.Unmarshal([]byte(input), &in) != nil || len(in.Feeds) == 0 {
				errs = append(errs, fmt.Errorf("template: %s event %s: its Input must be JSON naming the feeds, e.g. {\"feeds\": [\"tracks\"], \"scheduled_time\": \"<aws.scheduler.scheduled-time>\"}", fn.Name, name))
				return
			}
			if typ == "ScheduleV2" && !strings.Contains(input, "<aws.scheduler.scheduled-time>") {
				errs = append(errs, fmt.Errorf("template: %s event %s: Input lacks \"scheduled_time\": \"<aws.scheduler.scheduled-time>\" (versions must be named by the scheduled time)", fn.Name, name))
			}
			s.Feeds = in.Feeds
			out = append(out, s)
		})
	}
	return out, errors.Join(errs...)
}

// CheckSchedules checks that every feed (name → schedule expression, from
// sqlfeed.yaml) has exactly one schedule in the template with the same
// expression, and that no schedule names a feed that does not exist.
func CheckSchedules(templateYAML []byte, feeds map[string]string) error {
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
	for f := range feeds {
		names = append(names, f)
	}
	sort.Strings(names)
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
		}
	}
	return errors.Join(errs...)
}

// normalize collapses white space so "rate(1  hour)" equals "rate(1 hour)".
func normalize(expr string) string { return strings.Join(strings.Fields(expr), " ") }
