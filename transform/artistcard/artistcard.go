// Package artistcard is the worked example of a Go mapper: it publishes one
// "card" per artist with a URL slug computed in Go. Import it for its side
// effect (registration under the name "artist-card"):
//
//	import _ "github.com/sqlfeed/sqlfeed/transform/artistcard"
package artistcard

import (
	"fmt"
	"strings"
	"unicode"

	json "github.com/goccy/go-json"
	"golang.org/x/text/unicode/norm"

	"github.com/sqlfeed/sqlfeed/transform"
)

func init() {
	transform.Register("artist-card", New)
}

// Card is the published document.
type Card struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Slug   string `json:"slug"`
	URL    string `json:"url"`
	Albums int64  `json:"albums"`
}

// Mapper reads columns ArtistId, Name and Albums.
type Mapper struct {
	urlPrefix string
	idx       []int
}

// New is the factory: options.url_prefix is put before each card's slug.
func New(spec transform.Spec) (transform.Mapper, error) {
	m := &Mapper{}
	if v, ok := spec.Options["url_prefix"]; ok {
		s, isStr := v.(string)
		if !isStr {
			return nil, fmt.Errorf("artist-card: options.url_prefix must be a string")
		}
		m.urlPrefix = s
	}
	for k := range spec.Options {
		if k != "url_prefix" {
			return nil, fmt.Errorf("artist-card: unknown option %q", k)
		}
	}
	if len(spec.Fields) > 0 || spec.Group != nil {
		return nil, fmt.Errorf("artist-card takes no fields or group")
	}
	return m, nil
}

// Bind implements transform.Mapper.
func (m *Mapper) Bind(cols []transform.Column, _ *transform.Env) (transform.Schema, error) {
	var err error
	if m.idx, err = transform.Columns(cols, "ArtistId", "Name", "Albums"); err != nil {
		return nil, fmt.Errorf("artist-card: %w", err)
	}
	str := transform.Schema{"type": "string"}
	integer := transform.Schema{"type": "integer"}
	return transform.Schema{
		"type":                 "object",
		"properties":           map[string]any{"id": integer, "name": str, "slug": str, "url": str, "albums": integer},
		"required":             []string{"id", "name", "slug", "url", "albums"},
		"additionalProperties": false,
	}, nil
}

// Map implements transform.Mapper.
func (m *Mapper) Map(row []transform.Value, out transform.Sink) error {
	id, ok := transform.Int(row[m.idx[0]])
	if !ok {
		return fmt.Errorf("artist-card: ArtistId %v is not an integer", row[m.idx[0]])
	}
	albums, _ := transform.Int(row[m.idx[2]])
	c := Card{ID: id, Name: transform.Text(row[m.idx[1]]), Albums: albums}
	c.Slug = fmt.Sprintf("%d-%s", id, Slug(c.Name))
	c.URL = m.urlPrefix + c.Slug
	b, err := json.MarshalNoEscape(c)
	if err != nil {
		return err
	}
	return out.WriteDoc(b)
}

// Flush implements transform.Mapper.
func (m *Mapper) Flush(transform.Sink) error { return nil }

// Slug lower-cases s, strips accents and joins words with "-".
func Slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range norm.NFKD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(unicode.ToLower(r))
		default:
			dash = true
		}
	}
	return b.String()
}
