package db

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseDSN(t *testing.T) {
	tests := []struct {
		raw, engine, str string
	}{
		{"mysql://feeder:pw@db.example.com:3307/shop?tls=true", "mysql", "mysql://feeder:xxxxx@db.example.com:3307/shop?tls=true"},
		{"mysql://feeder:pw@db.example.com/shop", "mysql", "mysql://feeder:xxxxx@db.example.com:3306/shop"},
		{"mariadb://root@127.0.0.1/test", "mysql", "mariadb://root@127.0.0.1:3306/test"},
		{"postgres://u:p%40ss@pg:5433/app?sslmode=require", "postgres", "postgres://u:xxxxx@pg:5433/app?sslmode=require"},
		{"postgresql://u@pg/app", "postgres", "postgresql://u@pg:5432/app"},
		{"postgres://u@[::1]/app", "postgres", "postgres://u@[::1]:5432/app"},
		{"sqlite://testdata/chinook.db", "sqlite", "sqlite:testdata/chinook.db"},
	}
	for _, tt := range tests {
		d, err := ParseDSN(tt.raw)
		if err != nil {
			t.Errorf("%s: %v", tt.raw, err)
			continue
		}
		if d.Engine != tt.engine || d.String() != tt.str {
			t.Errorf("%s: engine %s, %s; want %s, %s", tt.raw, d.Engine, d, tt.engine, tt.str)
		}
	}
}

// TestDSNErrorsHidePassword: no error about a DSN shows its password.
func TestDSNErrorsHidePassword(t *testing.T) {
	for _, raw := range []string{
		"mysql://u:Sup3rS3cret@/db",
		"oracle://u:Sup3rS3cret@h/db",
		"mysql://u:Sup3rS3cret@h:port/db",
		"postgres://u:Sup3rS3cret@h:5432/db?sslmode=bogus",
		"mysql://u:Sup3rS3cret@h:3306/db?timeout=bogus",
		"mysql//u:Sup3rS3cret@h/db",
		"mysql://u:Sup3rS3cret/x@h/db",    // unescaped '/' in the password
		"postgres://u:Sup3rS3cret?x@h/db", // unescaped '?'
		"mysql://u:Sup3rS3cret#x@h/db",    // unescaped '#'
		"postgres://u@h:99999/db?password=Sup3rS3cret",
		"postgres://u@h/db?sslmode=bogus&password=Sup3rS3cret",
		"postgres://u@h/db?default_query_exec_mode=simple_protocol&password=Sup3rS3cret",
		"mysql://u@h/db?password=Sup3rS3cret",
		"mysql://u@h/db?timeout=bogus&password=Sup3rS3cret",
	} {
		_, err := Open(context.Background(), raw, Options{})
		if err == nil {
			t.Errorf("%s: no error", Redact(raw))
			continue
		}
		if strings.Contains(err.Error(), "Sup3rS3cret") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestRedact(t *testing.T) {
	for raw, want := range map[string]string{
		"mysql://u:p@h/db":          "mysql://u:xxxxx@h/db",
		"mysql://u@h/db":            "mysql://u@h/db",
		"postgres://u:p:q@h/db?x=1": "postgres://u:xxxxx@h/db?x=1",
		"sqlite://a@b.db":           "sqlite://a@b.db",
		"mysql://u:p/q@h/db":        "mysql://u:xxxxx@h/db",
		"postgres://u@h/db?password=TopSecret&sslmode=disable":          "postgres://u@h/db?password=xxxxx&sslmode=disable",
		"postgres://u:p@h/db?sslmode=require&SSLPassword=s&passfile=/f": "postgres://u:xxxxx@h/db?sslmode=require&SSLPassword=xxxxx&passfile=xxxxx",
		"mysql://u@h/db?tls=true&pass%77ord=x&token=y&x=1":              "mysql://u@h/db?tls=true&pass%77ord=xxxxx&token=xxxxx&x=1",
		"postgres://u:p?password=q@h/db?password=r":                     "postgres://u:xxxxx@h/db?password=xxxxx",
	} {
		if got := Redact(raw); got != want {
			t.Errorf("Redact(%s) = %s, want %s", raw, got, want)
		}
	}
}

// TestHostileErrorHidesDriverError: a database error neither shows a
// parameter password nor hands out the driver's error, yet errors.Is still
// finds the context's errors.
func TestHostileErrorHidesDriverError(t *testing.T) {
	d, err := ParseDSN("postgres://u@h/db?password=Sup3rS3cret")
	if err != nil {
		t.Fatal(err)
	}
	db := &DB{DSN: d}
	drv := fmt.Errorf("driver: connect with password=Sup3rS3cret: %w", context.Canceled)
	e := db.errorf("connect", drv)
	if strings.Contains(e.Error(), "Sup3rS3cret") || errors.Unwrap(e) != nil || errors.Is(e, drv) {
		t.Fatalf("error %q unwraps to %v", e, errors.Unwrap(e))
	}
	if !errors.Is(e, context.Canceled) || errors.Is(e, context.DeadlineExceeded) {
		t.Fatal("errors.Is does not see the context error")
	}
	if cause(e) != drv {
		t.Fatal("cause lost")
	}
}
