package db

import (
	"context"
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
	} {
		if got := Redact(raw); got != want {
			t.Errorf("Redact(%s) = %s, want %s", raw, got, want)
		}
	}
}
