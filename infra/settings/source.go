package settings

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/sqlfeed/sqlfeed/infra/db"
)

// Literal is a value given directly (an environment variable or a flag).
type Literal struct {
	Value string
	// Name describes it; when empty, String shows the value with any password redacted.
	Name string
}

// Fetch returns the value.
func (l Literal) Fetch(context.Context) (string, error) { return l.Value, nil }

// String names the value, or shows it with any DSN password redacted.
func (l Literal) String() string {
	if l.Name != "" {
		return l.Name
	}
	return db.Redact(l.Value)
}

// File is a file on disk, e.g. the sqlfeed.yaml bundled with the function.
type File struct{ Path string }

// Fetch reads the file.
func (f File) Fetch(context.Context) (string, error) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return "", fmt.Errorf("settings: %w", err)
	}
	return string(b), nil
}

// String returns the file's path.
func (f File) String() string { return f.Path }

// Config returns the source of the feeds config named by ref (SQLFEED_CONFIG):
// "ssm:/path/to/param" reads an SSM parameter, anything else is a file path
// ("sqlfeed.yaml" when empty).
func Config(ref string, c *Clients) Source {
	if name, ok := strings.CutPrefix(ref, "ssm:"); ok {
		return &SSMParameter{Name: name, Client: c.SSM}
	}
	if ref == "" {
		ref = "sqlfeed.yaml"
	}
	return File{Path: strings.TrimPrefix(ref, "file://")}
}

// DSN returns the source of the database DSN named by ref (SQLFEED_DB):
// "secretsmanager://SECRET-ID[?overrides]" reads an RDS-style secret, anything
// else is the DSN itself.
func DSN(ref string, c *Clients) (Source, error) {
	if rest, ok := strings.CutPrefix(ref, SecretScheme); ok {
		return NewSecretDSN(rest, c.SecretsManager)
	}
	if ref == "" {
		return nil, fmt.Errorf("settings: no database: set SQLFEED_DB")
	}
	return Literal{Value: ref}, nil
}
