package settings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SecretScheme prefixes a SQLFEED_DB that names a Secrets Manager secret.
const SecretScheme = "secretsmanager://"

// SecretsAPI is the part of the Secrets Manager client that settings uses.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SecretDSN builds a DSN from an RDS-style secret
// ({"engine","host","port","username","password","dbname"}).
//
// The reference is SECRET-ID (name or ARN) optionally followed by
// "?key=value&…": engine, host, port and dbname there fill in what the secret
// lacks (an RDS-managed master secret holds only username and password); any
// other key is passed on as a DSN parameter (e.g. sslmode=require, tls=true).
type SecretDSN struct {
	ID     string
	fill   RDSSecret
	params url.Values
	Client func(ctx context.Context) (SecretsAPI, error)
}

// NewSecretDSN parses ref, the part after "secretsmanager://".
func NewSecretDSN(ref string, client func(ctx context.Context) (SecretsAPI, error)) (*SecretDSN, error) {
	id, query, _ := strings.Cut(ref, "?")
	if id == "" {
		return nil, errors.New("settings: secretsmanager:// needs a secret name or ARN")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("settings: %s%s: bad parameters: %w", SecretScheme, id, err)
	}
	s := &SecretDSN{ID: id, Client: client, params: url.Values{}}
	for k, v := range q {
		switch k {
		case "engine":
			s.fill.Engine = v[0]
		case "host":
			s.fill.Host = v[0]
		case "port":
			s.fill.Port = json.Number(v[0])
		case "dbname":
			s.fill.DBName = v[0]
		default:
			s.params[k] = v
		}
	}
	return s, nil
}

// String returns the secretsmanager:// reference (never the secret).
func (s *SecretDSN) String() string { return SecretScheme + s.ID }

// Fetch reads the secret and returns the DSN it describes.
func (s *SecretDSN) Fetch(ctx context.Context) (string, error) {
	c, err := s.Client(ctx)
	if err != nil {
		return "", err
	}
	out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.ID)})
	if err != nil {
		return "", fmt.Errorf("settings: read secret %s: %w", s.ID, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("settings: secret %s has no SecretString", s.ID)
	}
	dsn, err := RDSSecretDSN([]byte(*out.SecretString), s.fill, s.params)
	if err != nil {
		return "", fmt.Errorf("settings: secret %s: %w", s.ID, err)
	}
	return dsn, nil
}

// RDSSecret is the JSON layout of an RDS database secret.
type RDSSecret struct {
	Engine   string      `json:"engine"`
	Host     string      `json:"host"`
	Port     json.Number `json:"port"`
	Username string      `json:"username"`
	Password string      `json:"password"`
	DBName   string      `json:"dbname"`
}

// RDSSecretDSN turns RDS secret JSON into a mysql:// or postgres:// DSN with
// the user name and password URL-escaped. fill supplies fields the secret
// lacks; params are appended as the DSN's query. Errors never contain the
// secret's text.
func RDSSecretDSN(secretJSON []byte, fill RDSSecret, params url.Values) (string, error) {
	var s RDSSecret
	d := json.NewDecoder(strings.NewReader(string(secretJSON)))
	d.UseNumber()
	if err := d.Decode(&s); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return "", fmt.Errorf("not JSON (offset %d)", syn.Offset)
		case errors.As(err, &typ):
			return "", fmt.Errorf("field %q has the wrong type", typ.Field)
		}
		return "", errors.New("not an RDS secret JSON object")
	}
	if s.Engine == "" {
		s.Engine = fill.Engine
	}
	if s.Host == "" {
		s.Host = fill.Host
	}
	if s.Port == "" {
		s.Port = fill.Port
	}
	if s.DBName == "" {
		s.DBName = fill.DBName
	}
	var scheme, defPort string
	switch strings.ToLower(s.Engine) {
	case "mysql", "mariadb", "aurora", "aurora-mysql":
		scheme, defPort = "mysql", "3306"
	case "postgres", "postgresql", "aurora-postgresql":
		scheme, defPort = "postgres", "5432"
	case "":
		return "", errors.New(`no "engine" (add ?engine=mysql or ?engine=postgres)`)
	default:
		return "", fmt.Errorf("engine %q is not supported (want mysql, mariadb, aurora-mysql, postgres, aurora-postgresql)", s.Engine)
	}
	if s.Host == "" {
		return "", errors.New(`no "host" (add ?host=…)`)
	}
	if s.Username == "" {
		return "", errors.New(`no "username"`)
	}
	port := string(s.Port)
	if port == "" {
		port = defPort
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("port %q is not a port number", port)
	}
	u := url.URL{
		Scheme:   scheme,
		User:     url.UserPassword(s.Username, s.Password),
		Host:     net.JoinHostPort(s.Host, port),
		Path:     "/" + s.DBName,
		RawQuery: params.Encode(),
	}
	return u.String(), nil
}
