package settings

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// SSMAPI is the part of the SSM client that settings uses.
type SSMAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// SSMParameter is a (possibly SecureString) SSM Parameter Store parameter.
type SSMParameter struct {
	Name   string
	Client func(ctx context.Context) (SSMAPI, error)
}

// Fetch reads the parameter, decrypted.
func (p *SSMParameter) Fetch(ctx context.Context) (string, error) {
	c, err := p.Client(ctx)
	if err != nil {
		return "", err
	}
	out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(p.Name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("settings: read SSM parameter %s: %w", p.Name, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", fmt.Errorf("settings: SSM parameter %s has no value", p.Name)
	}
	return *out.Parameter.Value, nil
}

// String returns the ssm: reference.
func (p *SSMParameter) String() string { return "ssm:" + p.Name }
