package exporters

import (
	"fmt"
	"strings"
)

// Response statuses of CONTRACT §6.
const (
	ResponseSuccess    = "success"
	ResponseSkipped    = "skipped"
	ResponseBadRequest = "badRequest"
	ResponseError      = "error"
)

// Response is the standard response of a run (Lambda and `sqlfeed run --json`).
type Response struct {
	Status  string       `json:"status"`
	Message string       `json:"message"`
	Data    ResponseData `json:"data"`
}

// ResponseData holds the per-feed results.
type ResponseData struct {
	Feeds []Result `json:"feeds"`
}

// NewResponse summarises results: error if any feed failed, skipped if every
// feed was skipped, success otherwise.
func NewResponse(results []Result) Response {
	count := map[string]int{}
	for _, r := range results {
		count[r.Status]++
	}
	status := ResponseSuccess
	switch {
	case count[StatusError] > 0:
		status = ResponseError
	case len(results) > 0 && count[StatusSkipped] == len(results):
		status = ResponseSkipped
	}
	var parts []string
	for _, s := range []string{StatusSuccess, StatusUnchanged, StatusSkipped, StatusError} {
		if n := count[s]; n > 0 {
			label := map[string]string{StatusSuccess: "published", StatusUnchanged: "unchanged", StatusSkipped: "skipped", StatusError: "failed"}[s]
			parts = append(parts, fmt.Sprintf("%d %s", n, label))
		}
	}
	msg := strings.Join(parts, ", ")
	if msg == "" {
		msg = "no feeds"
	}
	if results == nil {
		results = []Result{}
	}
	return Response{Status: status, Message: msg, Data: ResponseData{Feeds: results}}
}

// BadRequest is the response to a request that names no valid work.
func BadRequest(err error) Response {
	return Response{Status: ResponseBadRequest, Message: err.Error(), Data: ResponseData{Feeds: []Result{}}}
}
