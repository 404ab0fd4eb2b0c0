package settings

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// Clients builds the SSM and Secrets Manager clients on first use, from the
// SDK's default chain (AWS_REGION, AWS_ENDPOINT_URL_SSM,
// AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL_SECRETSMANAGER, the
// Lambda role…). The SDK's own HTTP client
// is kept, so AWS_CA_BUNDLE keeps working.
type Clients struct {
	// Load returns the SDK config; nil means config.LoadDefaultConfig.
	Load func(ctx context.Context) (aws.Config, error)

	once sync.Once
	cfg  aws.Config
	err  error
	ssm  *ssm.Client
	sm   *secretsmanager.Client
}

func (c *Clients) init(ctx context.Context) error {
	c.once.Do(func() {
		load := c.Load
		if load == nil {
			load = func(ctx context.Context) (aws.Config, error) { return awsconfig.LoadDefaultConfig(ctx) }
		}
		c.cfg, c.err = load(ctx)
		if c.err != nil {
			c.err = fmt.Errorf("settings: load AWS config: %w", c.err)
			return
		}
		c.ssm = ssm.NewFromConfig(c.cfg)
		c.sm = secretsmanager.NewFromConfig(c.cfg, func(o *secretsmanager.Options) {
			// The SDK's name is AWS_ENDPOINT_URL_SECRETS_MANAGER (from the service
			// id "Secrets Manager"); the spelling without the underscore is common
			// in docs and scripts, so it is honoured too.
			if os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER") == "" {
				if u := os.Getenv("AWS_ENDPOINT_URL_SECRETSMANAGER"); u != "" {
					o.BaseEndpoint = aws.String(u)
				}
			}
		})
	})
	return c.err
}

// SSM returns the SSM client.
func (c *Clients) SSM(ctx context.Context) (SSMAPI, error) {
	if err := c.init(ctx); err != nil {
		return nil, err
	}
	return c.ssm, nil
}

// SecretsManager returns the Secrets Manager client.
func (c *Clients) SecretsManager(ctx context.Context) (SecretsAPI, error) {
	if err := c.init(ctx); err != nil {
		return nil, err
	}
	return c.sm, nil
}
