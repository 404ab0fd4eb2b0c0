package transform

import "testing"

// Engine cases of Env.Append: Postgres multi-dimensional arrays, JSON inside
// arrays and infinite dates.
func TestAppendEngineCases(t *testing.T) {
	tests := []struct {
		name     string
		v        any
		col      Column
		want     string
		warnings int
	}{
		{"2d int array", []any{[]any{"1", "2"}, []any{"3", nil}}, Column{Name: "a", Kind: KindArray, Elem: KindInt}, "[[1,2],[3,null]]", 0},
		{"empty nested", []any{[]any{}}, Column{Name: "a", Kind: KindArray, Elem: KindString}, "[[]]", 0},
		{"2d jsonb array", []any{[]any{`{"a": [1, 2.50]}`, nil}}, Column{Name: "a", Kind: KindArray, Elem: KindJSON}, `[[{"a":[1,2.50]},null]]`, 0},
		{"infinity date", "infinity", Column{Name: "d", Kind: KindDate}, "null", 1},
		{"-infinity timestamp", "-infinity", Column{Name: "d", Kind: KindDateTime}, "null", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := NewEnv(nil)
			got, err := env.Append(nil, tt.v, &tt.col, KindAny, -1)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want || env.Warnings != tt.warnings {
				t.Errorf("got %s (%d warnings), want %s (%d)", got, env.Warnings, tt.want, tt.warnings)
			}
		})
	}
}

// TestAppendJSONAfterText: a JSON value appended after other text keeps that
// text once (documents always have a prefix: {"key":).
func TestAppendJSONAfterText(t *testing.T) {
	env := NewEnv(nil)
	col := &Column{Name: "j", Kind: KindJSON}
	got, err := env.Append([]byte(`{"k":`), []byte(`{"a": [1, "x"]}`), col, KindAny, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err = env.Append(append(got, `,"l":`...), `[ true ]`, col, KindAny, -1)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"k":{"a":[1,"x"]},"l":[true]`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
