package samtemplate

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// CheckDeploy checks the safe-deploy promises of CONTRACT §7:
//   - every function with schedule events has AutoPublishAlias (SAM then
//     points its events at the alias) and a DeploymentPreference with a Type
//     and a PreTraffic hook;
//   - no standalone schedule or rule (AWS::Scheduler::Schedule,
//     AWS::Events::Rule) and no state machine invokes such a function's bare
//     ARN (its $LATEST) instead of the alias;
//   - its Errors alarm watches the alias's executed version (dimension
//     ExecutedVersion), so the old version's errors do not roll back a deploy;
//   - every feed's staleness alarm treats missing data as breaching, over a
//     period (Period × EvaluationPeriods) no shorter than the feed's interval;
//   - the sharded feeds' state machine is as checkStateMachines says.
//
// intervals maps each feed to its schedule's interval.
func CheckDeploy(templateYAML []byte, intervals map[string]time.Duration) error {
	doc, err := parse(templateYAML)
	if err != nil {
		return err
	}
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf("template: "+format, a...)) }

	scheduled := map[string]bool{}
	for _, fn := range resources(doc, "AWS::Serverless::Function") {
		if !hasSchedule(fn) {
			continue
		}
		scheduled[fn.Name] = true
		if str(get(fn.Props, "AutoPublishAlias")) == "" {
			fail("function %s: no AutoPublishAlias, so its schedules invoke $LATEST and deploys replace it at once", fn.Name)
		}
		dp := get(fn.Props, "DeploymentPreference")
		switch {
		case dp == nil:
			fail("function %s: no DeploymentPreference (gradual shift with a PreTraffic hook)", fn.Name)
		case get(dp, "Type") == nil:
			fail("function %s: DeploymentPreference has no Type", fn.Name)
		case get(dp, "Hooks", "PreTraffic") == nil:
			fail("function %s: DeploymentPreference has no PreTraffic hook: a new version would take traffic untested", fn.Name)
		}
	}

	// A target naming a scheduled function's bare ARN.
	bare := func(n *yaml.Node) string {
		if n == nil {
			return ""
		}
		var ref string
		switch {
		case n.Tag == "!GetAtt" && n.Kind == yaml.ScalarNode:
			ref = n.Value
		case n.Tag == "!GetAtt" && n.Kind == yaml.SequenceNode && len(n.Content) == 2:
			ref = n.Content[0].Value + "." + n.Content[1].Value
		case n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "Fn::GetAtt":
			if v := n.Content[1]; v.Kind == yaml.SequenceNode && len(v.Content) == 2 {
				ref = v.Content[0].Value + "." + v.Content[1].Value
			} else {
				ref = v.Value
			}
		default:
			s := str(n)
			for fn := range scheduled {
				if strings.Contains(s, "${"+fn+".Arn}") && !strings.Contains(s, "${"+fn+".Arn}:") {
					return fn
				}
			}
			return ""
		}
		if fn, attr, _ := strings.Cut(ref, "."); attr == "Arn" && scheduled[fn] {
			return fn
		}
		return ""
	}
	for _, r := range resources(doc, "AWS::Scheduler::Schedule") {
		if fn := bare(get(r.Props, "Target", "Arn")); fn != "" {
			fail("schedule %s invokes %s's $LATEST: target its alias (e.g. !Ref %sAliaslive)", r.Name, fn, fn)
		}
	}
	for _, r := range resources(doc, "AWS::Events::Rule") {
		for _, t := range list(get(r.Props, "Targets")) {
			if fn := bare(get(t, "Arn")); fn != "" {
				fail("rule %s invokes %s's $LATEST: target its alias", r.Name, fn)
			}
		}
	}
	for _, r := range resources(doc, "AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine") {
		each(get(r.Props, "DefinitionSubstitutions"), func(k string, v *yaml.Node) {
			if fn := bare(v); fn != "" {
				fail("state machine %s: %s is %s's $LATEST: substitute its alias", r.Name, k, fn)
			}
		})
	}

	checkStateMachines(doc, fail)

	stale := map[string][]resource{}
	for _, a := range resources(doc, "AWS::CloudWatch::Alarm") {
		dims := map[string]string{}
		for _, d := range list(get(a.Props, "Dimensions")) {
			dims[str(get(d, "Name"))] = str(get(d, "Value"))
		}
		switch str(get(a.Props, "MetricName")) {
		case "Errors":
			if str(get(a.Props, "Namespace")) == "AWS/Lambda" && scheduled[dims["FunctionName"]] && dims["ExecutedVersion"] == "" {
				fail("alarm %s: Errors of %s without the ExecutedVersion dimension: the old version's errors would roll back a good deploy", a.Name, dims["FunctionName"])
			}
		case "SecondsSinceLastPublish":
			if f := dims["Feed"]; f != "" {
				stale[f] = append(stale[f], a)
			}
		}
	}
	feeds := make([]string, 0, len(intervals))
	for f := range intervals {
		feeds = append(feeds, f)
	}
	sort.Strings(feeds)
	for _, f := range feeds {
		for _, a := range stale[f] {
			if tmd := str(get(a.Props, "TreatMissingData")); tmd != "breaching" {
				fail("alarm %s (feed %q): TreatMissingData is %q, want breaching (no run at all is stale)", a.Name, f, tmd)
			}
			period, _ := strconv.Atoi(str(get(a.Props, "Period")))
			evals, _ := strconv.Atoi(str(get(a.Props, "EvaluationPeriods")))
			if w := time.Duration(period*max(evals, 1)) * time.Second; w < intervals[f] {
				fail("alarm %s (feed %q): evaluates %s, shorter than the feed's interval %s (a healthy feed would alarm between runs)", a.Name, f, w, intervals[f])
			}
		}
	}
	return errors.Join(errs...)
}
