package s3blob

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// wrap adds the operation and key to err and maps S3's answers to the blob
// errors: 404 (NoSuchKey, NotFound, NoSuchUpload) → blob.ErrNotFound;
// 412 PreconditionFailed and 409 ConditionalRequestConflict (a concurrent
// conditional write to the same key won) → blob.ErrPrecondition.
func wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var sentinel error
	code := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch {
	case status == http.StatusPreconditionFailed || code == "PreconditionFailed" ||
		code == "ConditionalRequestConflict":
		sentinel = blob.ErrPrecondition
	case code == "NoSuchBucket": // a configuration error, not a missing object
	case status == http.StatusNotFound || code == "NoSuchKey" || code == "NotFound" || code == "NoSuchUpload":
		sentinel = blob.ErrNotFound
	}
	if op == "" {
		if sentinel != nil {
			return fmt.Errorf("%w: %w", sentinel, err)
		}
		return err
	}
	if sentinel != nil {
		return fmt.Errorf("s3: %s %s: %w: %w", op, key, sentinel, err)
	}
	return fmt.Errorf("s3: %s %s: %w", op, key, err)
}

// errorDate is the Date header of a failed response (a 404 still tells the
// store's clock), zero if there is none.
func errorDate(err error) time.Time {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		if t, perr := http.ParseTime(re.Response.Header.Get("Date")); perr == nil {
			return t
		}
	}
	return time.Time{}
}
