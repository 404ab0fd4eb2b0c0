package s3blob

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// DefaultRegion is used when the standard chain names no region (S3 itself
// answers for us-east-1; MinIO accepts any).
const DefaultRegion = "us-east-1"

// DefaultMaxAttempts is the number of attempts per request (the SDK's default
// is 3) unless AWS_MAX_ATTEMPTS says otherwise.
const DefaultMaxAttempts = 6

// NewClient returns an S3 client configured from the standard AWS SDK chain:
// AWS_REGION, AWS_PROFILE and the shared config files, environment or role
// credentials, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_MAX_ATTEMPTS. When an
// endpoint is set (MinIO, other S3-compatible servers) it uses path-style
// addressing.
//
// Retries are the SDK's standard retryer (exponential backoff with full jitter;
// throttling, 5xx and connection errors are retryable), given more attempts and
// a shorter backoff cap than its defaults, since a publish is a short batch job.
// AWS_MAX_ATTEMPTS overrides the attempts; AWS_RETRY_MODE is not used.
//
// The HTTP client is the SDK's buildable client, customised with With… rather
// than replaced by a plain *http.Client: with AWS_CA_BUNDLE set the SDK must add
// that bundle to the client's transport, which it can only do on its own type
// ("unable to add custom RootCAs" otherwise).
func NewClient(ctx context.Context, optFns ...func(*s3.Options)) (*s3.Client, error) {
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 10 * time.Second }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.ResponseHeaderTimeout = 2 * time.Minute // a server-side copy of GBs answers late
			tr.MaxIdleConnsPerHost = 16
		})
	cfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(httpClient))
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if o.BaseEndpoint != nil && *o.BaseEndpoint != "" {
			o.UsePathStyle = true
		}
		// Multipart objects carry composite checksums the SDK cannot validate on
		// GET; that is expected, not worth a log line per read.
		o.DisableLogOutputChecksumValidationSkipped = true
		// Set on the client, not with config.WithRetryer, so that AWS_MAX_ATTEMPTS
		// (or max_attempts in a profile) still overrides the attempts.
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = DefaultMaxAttempts
			so.MaxBackoff = 5 * time.Second
		})
	}, func(o *s3.Options) {
		for _, f := range optFns {
			f(o)
		}
	})
	return c, nil
}
