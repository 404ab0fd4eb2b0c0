package artistcard

import (
	"strings"
	"testing"

	"github.com/sqlfeed/sqlfeed/transform"
)

func TestSlug(t *testing.T) {
	tests := map[string]string{
		"AC/DC":                        "ac-dc",
		"Motörhead":                    "motorhead",
		"Antônio Carlos Jobim":         "antonio-carlos-jobim",
		"  Guns N' Roses ":             "guns-n-roses",
		"Academy of St. Martin (1959)": "academy-of-st-martin-1959",
	}
	for in, want := range tests {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

type sink []string

func (s *sink) WriteDoc(b []byte) error { *s = append(*s, string(b)); return nil }

func TestMapper(t *testing.T) {
	m, err := transform.Default.New("artist-card", transform.Spec{Options: map[string]any{"url_prefix": "a/"}})
	if err != nil {
		t.Fatal(err)
	}
	cols := []transform.Column{{Name: "ArtistId"}, {Name: "Name"}, {Name: "Albums"}}
	if _, err := m.Bind(cols, transform.NewEnv(nil)); err != nil {
		t.Fatal(err)
	}
	var out sink
	if err := m.Map([]transform.Value{int64(1), "AC/DC", int64(2)}, &out); err != nil {
		t.Fatal(err)
	}
	if want := `{"id":1,"name":"AC/DC","slug":"1-ac-dc","url":"a/1-ac-dc","albums":2}`; out[0] != want {
		t.Fatalf("got %s, want %s", out[0], want)
	}
	if _, err := transform.Default.New("artist-card", transform.Spec{Options: map[string]any{"colour": 1}}); err == nil || !strings.Contains(err.Error(), "unknown option") {
		t.Fatalf("unknown option accepted: %v", err)
	}
	if _, err := m.Bind(cols[:2], transform.NewEnv(nil)); err == nil || !strings.Contains(err.Error(), "Albums") {
		t.Fatalf("missing column accepted: %v", err)
	}
}
