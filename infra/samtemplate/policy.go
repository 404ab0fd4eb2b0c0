package samtemplate

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Statement is one IAM policy statement of a role, its intrinsics resolved:
// it marshals to the JSON of an IAM (or MinIO) policy statement.
type Statement struct {
	Sid       string                         `json:"Sid,omitempty"`
	Effect    string                         `json:"Effect"`
	Action    []string                       `json:"Action"`
	Resource  []string                       `json:"Resource"`
	Condition map[string]map[string][]string `json:"Condition,omitempty"`
}

// RoleStatements returns the statements of the inline policies of the role
// that function (an AWS::Serverless::Function with Role: !GetAtt R.Arn) runs
// as, keeping those whose actions all belong to service (e.g. "s3"). A
// statement mixing service's actions with others is an error, so none is
// silently left out. Policies under !If count with their true branch (the
// most the role can hold); managed policies are not read.
//
// Intrinsics (!Sub, !Ref, !GetAtt, in short or long form) are resolved from
// vars, keyed as the template names them: "FeedPrefix", "FeedBucket",
// "FeedBucket.Arn". A name missing from vars is an error.
func RoleStatements(templateYAML []byte, function, service string, vars map[string]string) ([]Statement, error) {
	doc, err := parse(templateYAML)
	if err != nil {
		return nil, err
	}
	var fn *resource
	for _, r := range resources(doc, "AWS::Serverless::Function", "AWS::Lambda::Function") {
		if r.Name == function {
			fn = &r
		}
	}
	if fn == nil {
		return nil, fmt.Errorf("template: no function %s", function)
	}
	roleRef := get(fn.Props, "Role")
	roleName, ok := strings.CutSuffix(getAtt(roleRef), ".Arn")
	if !ok {
		return nil, fmt.Errorf("template: function %s: Role is not !GetAtt <role>.Arn", function)
	}
	var role *resource
	for _, r := range resources(doc, "AWS::IAM::Role") {
		if r.Name == roleName {
			role = &r
		}
	}
	if role == nil {
		return nil, fmt.Errorf("template: function %s: no AWS::IAM::Role %s", function, roleName)
	}
	var out []Statement
	for _, pol := range list(get(role.Props, "Policies")) {
		if pol.Tag == "!If" && len(pol.Content) == 3 {
			pol = pol.Content[1]
		}
		for i, st := range list(get(pol, "PolicyDocument", "Statement")) {
			where := fmt.Sprintf("role %s policy %s statement %d", roleName, str(get(pol, "PolicyName")), i+1)
			if get(st, "NotAction") != nil || get(st, "NotResource") != nil {
				return nil, fmt.Errorf("template: %s: NotAction/NotResource", where)
			}
			actions := strs(get(st, "Action"))
			mine := 0
			for _, a := range actions {
				if strings.HasPrefix(a, service+":") {
					mine++
				}
			}
			if mine == 0 {
				continue
			}
			if mine != len(actions) {
				return nil, fmt.Errorf("template: %s mixes %s actions with others: %v", where, service, actions)
			}
			s := Statement{Sid: str(get(st, "Sid")), Effect: str(get(st, "Effect")), Action: actions}
			var errs []error
			for _, r := range list(get(st, "Resource")) {
				v, err := resolve(r, vars)
				errs = append(errs, err)
				s.Resource = append(s.Resource, v)
			}
			each(get(st, "Condition"), func(op string, kv *yaml.Node) {
				if s.Condition == nil {
					s.Condition = map[string]map[string][]string{}
				}
				s.Condition[op] = map[string][]string{}
				each(kv, func(key string, vals *yaml.Node) {
					for _, n := range list(vals) {
						v, err := resolve(n, vars)
						errs = append(errs, err)
						s.Condition[op][key] = append(s.Condition[op][key], v)
					}
				})
			})
			if err := errors.Join(errs...); err != nil {
				return nil, fmt.Errorf("template: %s: %w", where, err)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// subVar matches a ${Name} or ${Name.Attr} of !Sub (not the ${!Literal} escape).
var subVar = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

// resolve returns the string value of a scalar or intrinsic with names from vars.
func resolve(n *yaml.Node, vars map[string]string) (string, error) {
	lookup := func(name string) (string, error) {
		v, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("no value for %q", name)
		}
		return v, nil
	}
	tag, arg := n.Tag, n
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
		switch n.Content[0].Value {
		case "Fn::Sub":
			tag, arg = "!Sub", n.Content[1]
		case "Ref":
			tag, arg = "!Ref", n.Content[1]
		case "Fn::GetAtt":
			tag, arg = "!GetAtt", n.Content[1]
		}
	}
	switch tag {
	case "!Ref":
		return lookup(arg.Value)
	case "!GetAtt":
		return lookup(getAtt(&yaml.Node{Kind: arg.Kind, Tag: "!GetAtt", Value: arg.Value, Content: arg.Content}))
	case "!Sub":
		if arg.Kind != yaml.ScalarNode {
			return "", fmt.Errorf("!Sub with a variable map is not supported: %q", str(arg))
		}
		var err error
		out := subVar.ReplaceAllStringFunc(arg.Value, func(m string) string {
			v, lerr := lookup(m[2 : len(m)-1])
			err = errors.Join(err, lerr)
			return v
		})
		return strings.ReplaceAll(out, "${!", "${"), err
	}
	if n.Kind != yaml.ScalarNode || strings.HasPrefix(n.Tag, "!") && n.Tag != "!!str" {
		return "", fmt.Errorf("unsupported value %s %q", n.Tag, str(n))
	}
	return n.Value, nil
}

// getAtt returns "Resource.Attr" of a !GetAtt (short form, either spelling,
// or Fn::GetAtt), or "".
func getAtt(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "Fn::GetAtt" {
		n = &yaml.Node{Kind: n.Content[1].Kind, Tag: "!GetAtt", Value: n.Content[1].Value, Content: n.Content[1].Content}
	}
	if n.Tag != "!GetAtt" {
		return ""
	}
	if n.Kind == yaml.SequenceNode {
		var parts []string
		for _, c := range n.Content {
			parts = append(parts, c.Value)
		}
		return strings.Join(parts, ".")
	}
	return n.Value
}
