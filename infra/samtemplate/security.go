package samtemplate

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// CheckSecurity checks the template's promises of CONTRACT §7:
//   - each bucket blocks ACLs (BlockPublicAcls, IgnorePublicAcls, BucketOwnerEnforced),
//     is versioned, expires noncurrent versions, aborts incomplete multipart
//     uploads, and allows only GET/HEAD in CORS;
//   - a bucket policy grants anonymous s3:GetObject, and only that, on a key
//     prefix (never the whole bucket), and grants the public nothing else;
//   - IAM roles allow no "*" action and no "*" resource; their S3 object rights
//     are on a key prefix (never bucket/*), and s3:ListBucket is limited by an
//     s3:prefix condition on that prefix;
//   - every scheduled function has reserved concurrency and an SQS failure destination;
//   - there is an alarm on the functions' Errors, and a staleness alarm
//     (SecondsSinceLastPublish) for every scheduled feed.
func CheckSecurity(templateYAML []byte) error {
	doc, err := parse(templateYAML)
	if err != nil {
		return err
	}
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf("template: "+format, a...)) }

	buckets := resources(doc, "AWS::S3::Bucket")
	if len(buckets) == 0 {
		fail("no AWS::S3::Bucket")
	}
	for _, b := range buckets {
		p := b.Props
		pab := get(p, "PublicAccessBlockConfiguration")
		for _, k := range []string{"BlockPublicAcls", "IgnorePublicAcls"} {
			if str(get(pab, k)) != "true" {
				fail("bucket %s: PublicAccessBlockConfiguration.%s must be true", b.Name, k)
			}
		}
		owned := false
		for _, r := range list(get(p, "OwnershipControls", "Rules")) {
			owned = owned || str(get(r, "ObjectOwnership")) == "BucketOwnerEnforced"
		}
		if !owned {
			fail("bucket %s: ObjectOwnership must be BucketOwnerEnforced (no ACLs)", b.Name)
		}
		if str(get(p, "VersioningConfiguration", "Status")) != "Enabled" {
			fail("bucket %s: versioning must be enabled", b.Name)
		}
		var noncurrent, abort bool
		for _, r := range list(get(p, "LifecycleConfiguration", "Rules")) {
			if str(get(r, "Status")) != "Enabled" {
				continue
			}
			noncurrent = noncurrent || get(r, "NoncurrentVersionExpiration") != nil || get(r, "NoncurrentVersionExpirationInDays") != nil
			abort = abort || get(r, "AbortIncompleteMultipartUpload") != nil
		}
		if !noncurrent {
			fail("bucket %s: no lifecycle rule expires noncurrent versions", b.Name)
		}
		if !abort {
			fail("bucket %s: no lifecycle rule aborts incomplete multipart uploads", b.Name)
		}
		rules := list(get(p, "CorsConfiguration", "CorsRules"))
		if len(rules) == 0 {
			fail("bucket %s: no CORS rule for GET/HEAD", b.Name)
		}
		for _, r := range rules {
			for _, m := range strs(get(r, "AllowedMethods")) {
				if m != "GET" && m != "HEAD" {
					fail("bucket %s: CORS allows %s; only GET and HEAD", b.Name, m)
				}
			}
		}
	}

	publicRead := 0
	for _, bp := range resources(doc, "AWS::S3::BucketPolicy") {
		for i, st := range list(get(bp.Props, "PolicyDocument", "Statement")) {
			if str(get(st, "Effect")) != "Allow" || !public(get(st, "Principal")) {
				continue
			}
			where := fmt.Sprintf("bucket policy %s statement %d (%s)", bp.Name, i+1, str(get(st, "Sid")))
			if get(st, "NotAction") != nil || get(st, "NotResource") != nil {
				fail("%s: public NotAction/NotResource", where)
				continue
			}
			actions := strs(get(st, "Action"))
			if !slices.Equal(actions, []string{"s3:GetObject"}) {
				fail("%s: the public may only s3:GetObject, not %v", where, actions)
				continue
			}
			for _, res := range strs(get(st, "Resource")) {
				if !onPrefix(res) {
					fail("%s: anonymous read on %q: only a key prefix (ARN/prefix/*) may be public", where, res)
					continue
				}
				publicRead++
			}
		}
	}
	if publicRead == 0 {
		fail("no bucket policy grants anonymous s3:GetObject on the feed prefix")
	}

	for _, role := range resources(doc, "AWS::IAM::Role") {
		for _, pol := range list(get(role.Props, "Policies")) {
			if pol.Tag == "!If" && len(pol.Content) == 3 {
				pol = pol.Content[1]
			}
			for _, st := range list(get(pol, "PolicyDocument", "Statement")) {
				if str(get(st, "Effect")) != "Allow" {
					continue
				}
				for _, a := range strs(get(st, "Action")) {
					if strings.Contains(a, "*") {
						fail("role %s: statement %s allows %q", role.Name, str(get(st, "Sid")), a)
					}
				}
				for _, r := range strs(get(st, "Resource")) {
					if r == "*" {
						fail("role %s: statement %s applies to every resource", role.Name, str(get(st, "Sid")))
					}
				}
				checkRoleS3(st, func(format string, a ...any) {
					fail("role %s: statement %s "+format, append([]any{role.Name, str(get(st, "Sid"))}, a...)...)
				})
			}
		}
	}

	fns := resources(doc, "AWS::Serverless::Function")
	for _, fn := range fns {
		if !hasSchedule(fn) {
			continue // e.g. the PreTraffic hook: no database, not scheduled
		}
		if get(fn.Props, "ReservedConcurrentExecutions") == nil {
			fail("function %s: no ReservedConcurrentExecutions (caps database connections)", fn.Name)
		}
		if str(get(fn.Props, "EventInvokeConfig", "DestinationConfig", "OnFailure", "Type")) != "SQS" {
			fail("function %s: no SQS OnFailure destination in EventInvokeConfig", fn.Name)
		}
	}

	alarms := resources(doc, "AWS::CloudWatch::Alarm")
	errorsAlarm := false
	stale := map[string]bool{}
	for _, a := range alarms {
		metric := str(get(a.Props, "MetricName"))
		switch {
		case metric == "Errors" && str(get(a.Props, "Namespace")) == "AWS/Lambda":
			errorsAlarm = true
		case metric == "SecondsSinceLastPublish":
			for _, d := range list(get(a.Props, "Dimensions")) {
				if str(get(d, "Name")) == "Feed" {
					stale[str(get(d, "Value"))] = true
				}
			}
		}
	}
	if len(fns) > 0 && !errorsAlarm {
		fail("no alarm on AWS/Lambda Errors")
	}
	scheds, _ := Schedules(templateYAML)
	for _, s := range scheds {
		for _, f := range s.Feeds {
			if !stale[f] {
				fail("feed %q has no staleness alarm (SecondsSinceLastPublish, dimension Feed)", f)
			}
		}
	}
	return errors.Join(errs...)
}

// public reports whether a policy principal is everyone.
func public(p *yaml.Node) bool {
	if p == nil {
		return false
	}
	if p.Kind == yaml.ScalarNode {
		return p.Value == "*"
	}
	return slices.Contains(strs(get(p, "AWS")), "*")
}

// onPrefix reports whether an object ARN (often a !Sub) names keys under a
// non-empty prefix: "…/feeds/*", not "…/*" or the bucket itself.
func onPrefix(res string) bool {
	base, ok := strings.CutSuffix(res, "/*")
	if !ok || strings.Contains(base, "*") {
		return false
	}
	slash := strings.LastIndex(base, "/")
	if slash < 0 {
		return false
	}
	return slash > 0 && base[slash+1:] != ""
}

// checkRoleS3 reports (through fail) S3 rights of an Allow statement of a role
// that reach beyond a key prefix: an object action on bucket/* (or on the
// bucket's every key another way), or s3:ListBucket without an s3:prefix
// condition naming a prefix.
func checkRoleS3(st *yaml.Node, fail func(format string, a ...any)) {
	var list, object bool
	for _, a := range strs(get(st, "Action")) {
		switch {
		case a == "s3:ListBucket":
			list = true
		case strings.HasPrefix(a, "s3:"):
			object = true
		}
	}
	if object {
		for _, r := range strs(get(st, "Resource")) {
			if !keyPrefixed(r) {
				fail("grants S3 object rights on %q: only on the feed prefix (ARN/prefix/…)", r)
			}
		}
	}
	if list {
		prefixes := strs(get(st, "Condition", "StringLike", "s3:prefix"))
		prefixes = append(prefixes, strs(get(st, "Condition", "StringEquals", "s3:prefix"))...)
		if len(prefixes) == 0 {
			fail("grants s3:ListBucket without an s3:prefix condition: it could list the whole bucket")
		}
		for _, p := range prefixes {
			if !keyPrefixed("bucket/" + p) {
				fail("grants s3:ListBucket on prefix %q: only below the feed prefix", p)
			}
		}
	}
}

// keyPrefixed reports whether an object ARN (often a !Sub) starts its key with
// a fixed, non-empty first segment: "…/feeds/*", "…/${FeedPrefix}/*/versions/*",
// not "…/*", "…/" or the bucket itself.
func keyPrefixed(res string) bool {
	_, key, ok := strings.Cut(res, "/")
	if !ok {
		return false
	}
	first, _, ok := strings.Cut(key, "/")
	return ok && first != "" && !strings.Contains(first, "*")
}

// hasSchedule reports whether a function has schedule events.
func hasSchedule(fn resource) bool {
	has := false
	each(get(fn.Props, "Events"), func(_ string, ev *yaml.Node) {
		t := str(get(ev, "Type"))
		has = has || t == "ScheduleV2" || t == "Schedule"
	})
	return has
}
