package db

import (
	"fmt"
	"net"
	"net/url"
	"sort"
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

// Redact replaces every password of a URL-style DSN with "xxxxx": the
// password of the user information and the value of every query parameter
// whose name holds "pass", "pwd", "secret" or "token" (any case: password,
// sslpassword, passfile…). The user information ends at the last '@' of the
// DSN, not of the authority, so a password with an unescaped '/', '?' or '#'
// is hidden too (an '@' in a query parameter may hide more than the password,
// never less).
func Redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if name, _, hasPass := strings.Cut(rest[:at], ":"); hasPass {
			rest = name + ":xxxxx" + rest[at:]
		}
	}
	at := max(strings.LastIndex(rest, "@"), 0)
	q := strings.IndexByte(rest[at:], '?')
	if q < 0 {
		return scheme + "://" + rest
	}
	q += at
	params := strings.Split(rest[q+1:], "&")
	for i, p := range params {
		if k, _, ok := strings.Cut(p, "="); ok && secretParam(k) {
			params[i] = k + "=xxxxx"
		}
	}
	return scheme + "://" + rest[:q+1] + strings.Join(params, "&")
}

// secretParam reports whether a DSN query parameter holds a secret.
func secretParam(name string) bool {
	if u, err := url.QueryUnescape(name); err == nil {
		name = u
	}
	name = strings.ToLower(name)
	for _, s := range []string{"pass", "pwd", "secret", "token"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// secrets returns the passwords d holds (user information and secret
// parameters), as written and unescaped, for scrubbing driver messages.
func (d DSN) secrets() []string {
	var out []string
	add := func(v string) {
		if v != "" {
			out = append(out, v)
			if u, err := url.QueryUnescape(v); err == nil && u != v && u != "" {
				out = append(out, u)
			}
		}
	}
	if d.URL == nil {
		return nil
	}
	if d.URL.User != nil {
		p, _ := d.URL.User.Password()
		add(p)
		add(url.QueryEscape(p))
	}
	for _, p := range strings.Split(d.URL.RawQuery, "&") {
		if k, v, ok := strings.Cut(p, "="); ok && secretParam(k) {
			add(v)
		}
	}
	// Longest first, so a password containing another is scrubbed whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}
