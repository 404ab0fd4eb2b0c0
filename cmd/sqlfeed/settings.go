package main

import (
	"context"
	"fmt"

	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/settings"
	"github.com/sqlfeed/sqlfeed/transform"
)

// aws builds SSM and Secrets Manager clients only when a setting needs them.
var aws = &settings.Clients{}

// loadConfig reads the feeds config from a file, or from an SSM parameter
// with --config ssm:/path (as the Lambda function does).
func loadConfig(ctx context.Context, ref string) (*config.File, error) {
	src := settings.Config(ref, aws)
	text, err := src.Fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", src, err)
	}
	return config.Parse(src.String(), []byte(text), transform.Default)
}

// openDB opens the database named by ref: a DSN, or secretsmanager://SECRET-ID
// (an RDS-style secret). Errors never contain the password.
func openDB(ctx context.Context, ref string, conns int) (*db.DB, error) {
	src, err := settings.DSN(ref, aws)
	if err != nil {
		return nil, err
	}
	dsn, err := src.Fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", src, err)
	}
	return db.Open(ctx, dsn, db.Options{MaxConns: conns})
}
