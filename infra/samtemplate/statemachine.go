package samtemplate

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9_.:]+)\}`)

// StateMachineDefinition returns the ASL (JSON) of the state machine resource
// name in the template, its DefinitionSubstitutions replaced by subs (the
// values CloudFormation would give them); a placeholder subs lacks is an
// error. It is what Step Functions would run, for local tests of it.
func StateMachineDefinition(templateYAML []byte, name string, subs map[string]string) ([]byte, error) {
	doc, err := parse(templateYAML)
	if err != nil {
		return nil, err
	}
	for _, r := range resources(doc, "AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine") {
		if r.Name != name {
			continue
		}
		n := get(r.Props, "Definition")
		if n == nil {
			return nil, fmt.Errorf("template: state machine %s has no inline Definition", name)
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("template: state machine %s: %w", name, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("template: state machine %s: %w", name, err)
		}
		var missing []string
		out := placeholder.ReplaceAllStringFunc(string(b), func(m string) string {
			key := m[2 : len(m)-1]
			val, ok := subs[key]
			if !ok {
				missing = append(missing, key)
				return m
			}
			q, _ := json.Marshal(val) // the value inside a JSON string
			return strings.Trim(string(q), `"`)
		})
		if len(missing) > 0 {
			sort.Strings(missing)
			return nil, fmt.Errorf("template: state machine %s: no value for %s", name, strings.Join(missing, ", "))
		}
		return []byte(out), nil
	}
	return nil, fmt.Errorf("template: no state machine %s", name)
}

// checkStateMachines checks the state machines that run sharded feeds (those
// with schedules) against CONTRACT §7: a fixed Name (the role grants
// StartExecution on it), a Distributed Map (ProcessorConfig DISTRIBUTED,
// STANDARD) with a MaxConcurrency and no tolerated failures, the first Task on
// a substitution (the alias) and every other Task on FunctionName.$ (the
// version the plan answered), each Task retrying Lambda throttles and
// sqlfeed.TransientDatabaseError; and ShardConcurrency's default below
// ReservedConcurrency's, so the direct schedules keep a slot.
func checkStateMachines(doc *yaml.Node, fail func(format string, a ...any)) {
	for _, sm := range resources(doc, "AWS::Serverless::StateMachine") {
		scheduled := false
		each(get(sm.Props, "Events"), func(_ string, ev *yaml.Node) { scheduled = scheduled || str(get(ev, "Type")) == "ScheduleV2" })
		if !scheduled {
			continue
		}
		if str(get(sm.Props, "Name")) == "" {
			fail("state machine %s: no fixed Name (its role grants states:StartExecution on it by name)", sm.Name)
		}
		def := get(sm.Props, "Definition")
		start := str(get(def, "StartAt"))
		maps := 0
		var walk func(states *yaml.Node)
		walk = func(states *yaml.Node) {
			each(states, func(name string, st *yaml.Node) {
				switch str(get(st, "Type")) {
				case "Map":
					maps++
					pc := get(st, "ItemProcessor", "ProcessorConfig")
					if str(get(pc, "Mode")) != "DISTRIBUTED" || str(get(pc, "ExecutionType")) != "STANDARD" {
						fail("state machine %s: Map %s is not a Distributed Map (ProcessorConfig Mode DISTRIBUTED, ExecutionType STANDARD)", sm.Name, name)
					}
					if get(st, "MaxConcurrency") == nil && get(st, "MaxConcurrencyPath") == nil {
						fail("state machine %s: Map %s has no MaxConcurrency: its shards could take every database connection", sm.Name, name)
					}
					for _, k := range []string{"ToleratedFailurePercentage", "ToleratedFailureCount"} {
						if v := str(get(st, k)); v != "" && v != "0" {
							fail("state machine %s: Map %s tolerates failed shards (%s %s): a feed would publish without them", sm.Name, name, k, v)
						}
					}
					walk(get(st, "ItemProcessor", "States"))
				case "Task":
					params := get(st, "Parameters")
					if name == start {
						if get(params, "FunctionName") == nil {
							fail("state machine %s: Task %s (the plan) must invoke a fixed FunctionName (the alias)", sm.Name, name)
						}
					} else if get(params, "FunctionName.$") == nil {
						fail("state machine %s: Task %s must invoke the version the plan answered (FunctionName.$)", sm.Name, name)
					}
					retried := map[string]bool{}
					for _, r := range list(get(st, "Retry")) {
						for _, e := range strs(get(r, "ErrorEquals")) {
							retried[e] = true
						}
					}
					for _, e := range []string{"Lambda.TooManyRequestsException", "Lambda.ServiceException", "sqlfeed.TransientDatabaseError"} {
						if !retried[e] {
							fail("state machine %s: Task %s does not retry %s", sm.Name, name, e)
						}
					}
				}
			})
		}
		walk(get(def, "States"))
		if maps == 0 {
			fail("state machine %s: no Map state for the shards", sm.Name)
		}
	}
	shards, _ := strconv.Atoi(str(get(doc, "Parameters", "ShardConcurrency", "Default")))
	reserved, _ := strconv.Atoi(str(get(doc, "Parameters", "ReservedConcurrency", "Default")))
	if shards > 0 && shards >= reserved {
		fail("parameter ShardConcurrency (default %d) must stay below ReservedConcurrency (default %d): the direct schedules need a slot", shards, reserved)
	}
}
