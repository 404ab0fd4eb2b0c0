package db

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// DSN is a parsed sqlfeed database URL (CONTRACT §2).
type DSN struct {
	Engine string // "sqlite", "mysql" or "postgres"
	URL    *url.URL
	// Path is the database file of a sqlite:// DSN.
	Path string
}

// ParseDSN parses mysql://, postgres:// (postgresql://) and sqlite:// URLs.
// Errors never contain the password.
func ParseDSN(raw string) (DSN, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		// Not a URL: Redact cannot find the password, so show none of it.
		return DSN{}, fmt.Errorf("database DSN is not a URL: want mysql://, postgres:// or sqlite://")
	}
	switch scheme {
	case "sqlite", "sqlite3":
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return DSN{}, fmt.Errorf("database %q: sqlite:// needs a file path", raw)
		}
		u := &url.URL{Scheme: "sqlite", Opaque: path, RawQuery: query}
		return DSN{Engine: "sqlite", URL: u, Path: path}, nil
	case "mysql", "mariadb", "postgres", "postgresql":
		u, err := url.Parse(raw)
		if err != nil {
			return DSN{}, fmt.Errorf("database %q: invalid URL", Redact(raw))
		}
		engine := "mysql"
		if strings.HasPrefix(scheme, "postgres") {
			engine = "postgres"
		}
		if u.Hostname() == "" {
			return DSN{}, fmt.Errorf("database %q: missing host", Redact(raw))
		}
		if u.Port() == "" { // errors always name host:port
			port := "3306"
			if engine == "postgres" {
				port = "5432"
			}
			u.Host = net.JoinHostPort(u.Hostname(), port)
		}
		return DSN{Engine: engine, URL: u}, nil
	}
	return DSN{}, fmt.Errorf("database %q: unsupported scheme %q (want mysql, postgres or sqlite)", Redact(raw), scheme)
}

// String returns the DSN with its password redacted.
func (d DSN) String() string { return Redact(d.URL.String()) }

// Redact replaces the password of a URL-style DSN with "xxxxx". The user
// information ends at the last '@' of the DSN, not of the authority, so a
// password with an unescaped '/', '?' or '#' is hidden too (an '@' in a query
// parameter may hide more than the password, never less).
func Redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw
	}
	user := rest[:at]
	if name, _, hasPass := strings.Cut(user, ":"); hasPass {
		return scheme + "://" + name + ":xxxxx" + rest[at:]
	}
	return raw
}
