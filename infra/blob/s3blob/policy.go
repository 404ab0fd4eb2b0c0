package s3blob

import (
	"encoding/json"
	"strings"
)

// PublicReadPolicy returns the bucket policy that lets anyone read the objects
// under prefix and nothing else: anonymous s3:GetObject (GET and HEAD, including
// conditional requests) on bucket/prefix/*; no listing, no writes, nothing
// outside the prefix. template.yaml mirrors this document.
func PublicReadPolicy(bucket, prefix string) string {
	resource := "arn:aws:s3:::" + bucket + "/*"
	if p := strings.Trim(prefix, "/"); p != "" {
		resource = "arn:aws:s3:::" + bucket + "/" + p + "/*"
	}
	type statement struct {
		Sid       string
		Effect    string
		Principal map[string][]string
		Action    []string
		Resource  []string
	}
	doc := struct {
		Version   string
		Statement []statement
	}{
		Version: "2012-10-17",
		Statement: []statement{{
			Sid:       "PublicReadFeeds",
			Effect:    "Allow",
			Principal: map[string][]string{"AWS": {"*"}},
			Action:    []string{"s3:GetObject"},
			Resource:  []string{resource},
		}},
	}
	b, _ := json.Marshal(doc) // cannot fail: fixed types
	return string(b)
}
