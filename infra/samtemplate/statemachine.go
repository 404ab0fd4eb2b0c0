package samtemplate

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
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
