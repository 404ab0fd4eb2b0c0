package transform

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestAppend(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	wall := time.Date(2009, 1, 1, 13, 45, 0, 123456000, time.UTC)
	tests := []struct {
		name  string
		v     any
		col   Column
		to    Kind
		scale int
		loc   *time.Location
		want  string
		warns int
	}{
		{"null", nil, Column{Kind: KindInt}, KindAny, -1, nil, "null", 0},
		{"int", int64(-9223372036854775808), Column{Kind: KindInt}, KindAny, -1, nil, "-9223372036854775808", 0},
		{"uint max", uint64(18446744073709551615), Column{Kind: KindInt}, KindAny, -1, nil, "18446744073709551615", 0},
		{"int from text", []byte("42"), Column{Kind: KindInt}, KindAny, -1, nil, "42", 0},
		{"decimal exact", Decimal("12345678901234567890.123456789012345678901234567890"), Column{Kind: KindDecimal}, KindAny, -1, nil, "12345678901234567890.123456789012345678901234567890", 0},
		{"decimal from float", 0.99, Column{Kind: KindDecimal}, KindAny, -1, nil, "0.99", 0},
		{"decimal scale pads", 1.5, Column{Kind: KindDecimal}, KindAny, 2, nil, "1.50", 0},
		{"decimal scale rounds float sum", 75.24000000000001, Column{Kind: KindDecimal}, KindAny, 2, nil, "75.24", 0},
		{"decimal scale rounds a float tie away from zero", 2.5, Column{Kind: KindDecimal}, KindAny, 0, nil, "3", 0},
		{"decimal scale rounds a float as its text", 1.005, Column{Kind: KindDecimal}, KindAny, 2, nil, "1.01", 0},
		{"decimal scale rounds a negative float tie", -0.125, Column{Kind: KindDecimal}, KindAny, 2, nil, "-0.13", 0},
		{"decimal scale pads text", Decimal("7"), Column{Kind: KindDecimal}, KindAny, 2, nil, "7.00", 0},
		{"decimal scale rounds text", Decimal("1.005"), Column{Kind: KindDecimal}, KindAny, 2, nil, "1.01", 0},
		{"decimal as string", Decimal("0.10"), Column{Kind: KindDecimal}, KindString, -1, nil, `"0.10"`, 0},
		{"float shortest", 0.1, Column{Kind: KindFloat}, KindAny, -1, nil, "0.1", 0},
		{"float big", 1e21, Column{Kind: KindFloat}, KindAny, -1, nil, "1e+21", 0},
		{"float tiny", 1e-7, Column{Kind: KindFloat}, KindAny, -1, nil, "1e-7", 0},
		{"float NaN", math.NaN(), Column{Kind: KindFloat}, KindAny, -1, nil, "null", 1},
		{"float Inf text", "Infinity", Column{Kind: KindFloat}, KindAny, -1, nil, "null", 1},
		{"string escapes", "a\"b\\c\n\t\x01<>&", Column{Kind: KindString}, KindAny, -1, nil, `"a\"b\\c\n\t\u0001<>&"`, 0},
		{"string emoji", "🎸 Motörhead", Column{Kind: KindString}, KindAny, -1, nil, `"🎸 Motörhead"`, 0},
		{"string invalid utf8", []byte{'a', 0xff, 'b'}, Column{Kind: KindString}, KindAny, -1, nil, "\"a\ufffdb\"", 1},
		{"int as string", int64(7), Column{Kind: KindInt}, KindString, -1, nil, `"7"`, 0},
		{"bool", true, Column{Kind: KindBool}, KindAny, -1, nil, "true", 0},
		{"bool from int", int64(0), Column{Kind: KindInt}, KindBool, -1, nil, "false", 0},
		{"bool from bit", []byte{1}, Column{Kind: KindBool}, KindAny, -1, nil, "true", 0},
		{"date", wall, Column{Kind: KindDate}, KindAny, -1, nil, `"2009-01-01"`, 0},
		{"datetime utc", wall, Column{Kind: KindDateTime}, KindAny, -1, nil, `"2009-01-01T13:45:00.123456Z"`, 0},
		{"datetime zone-less in tz", wall, Column{Kind: KindDateTime}, KindAny, -1, berlin, `"2009-01-01T12:45:00.123456Z"`, 0},
		{"datetime zoned ignores tz", wall, Column{Kind: KindDateTime, Zoned: true}, KindAny, -1, berlin, `"2009-01-01T13:45:00.123456Z"`, 0},
		{"datetime from text", "2009-01-01 00:00:00", Column{}, KindDateTime, -1, nil, `"2009-01-01T00:00:00Z"`, 0},
		{"datetime max", "9999-12-31 23:59:59.999999", Column{}, KindDateTime, -1, nil, `"9999-12-31T23:59:59.999999Z"`, 0},
		{"zero date", []byte("0000-00-00 00:00:00"), Column{Kind: KindDateTime}, KindAny, -1, nil, "null", 0},
		{"time text", []byte("13:45:00"), Column{Kind: KindTime}, KindAny, -1, nil, `"13:45:00"`, 0},
		{"time long", "-838:59:59.000000", Column{Kind: KindTime}, KindAny, -1, nil, `"-838:59:59.000000"`, 0},
		{"json compacted", []byte(`{"a": [1, 2, {"b": null}]}`), Column{Kind: KindJSON}, KindAny, -1, nil, `{"a":[1,2,{"b":null}]}`, 0},
		{"base64", []byte{0, 1, 2, 255}, Column{Kind: KindBase64}, KindAny, -1, nil, `"AAEC/w=="`, 0},
		{"base64 empty", []byte{}, Column{Kind: KindBase64}, KindAny, -1, nil, `""`, 0},
		{"array", []any{int64(1), nil, int64(3)}, Column{Kind: KindArray, Elem: KindInt}, KindAny, -1, nil, "[1,null,3]", 0},
		{"any int", int64(3), Column{}, KindAny, -1, nil, "3", 0},
		{"any text", "x", Column{}, KindAny, -1, nil, `"x"`, 0},
		{"any float", 2.5, Column{}, KindAny, -1, nil, "2.5", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := NewEnv(tt.loc)
			col := tt.col
			col.Name = "c"
			got, err := env.Append([]byte(`{"k":`), tt.v, &col, tt.to, tt.scale)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(got), `{"k":`) {
				t.Fatalf("the bytes before the value were changed: %s", got)
			}
			got = got[len(`{"k":`):]
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if env.Warnings != tt.warns {
				t.Errorf("warnings %d, want %d", env.Warnings, tt.warns)
			}
		})
	}
}

func TestAppendErrors(t *testing.T) {
	tests := []struct {
		name string
		v    any
		to   Kind
		want string
	}{
		{"int from words", "abc", KindInt, `cannot publish "abc" as int`},
		{"decimal from words", "1e5x", KindDecimal, "as decimal"},
		{"bad datetime", "yesterday", KindDateTime, "as datetime"},
		{"bad json", []byte(`{"a":`), KindJSON, "invalid JSON"},
		{"bool from words", "maybe", KindBool, "as bool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewEnv(nil).Append(nil, tt.v, &Column{Name: "c"}, tt.to, -1)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `"c"`) {
				t.Fatalf("error %v, want it to name the column and contain %q", err, tt.want)
			}
		})
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\x00\xff", "é\"\\\n", "🎸"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		env := NewEnv(nil)
		got, err := env.Append(nil, s, &Column{Name: "c", Kind: KindString}, KindAny, -1)
		if err != nil {
			t.Fatal(err)
		}
		var back string
		if err := jsonUnmarshal(got, &back); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", s, got, err)
		}
		if env.Warnings == 0 && back != s {
			t.Fatalf("round trip %q -> %s -> %q", s, got, back)
		}
	})
}

func FuzzAppendRFC3339(f *testing.F) {
	f.Add(int64(0), int64(0))
	f.Add(int64(253402300799), int64(999999000))
	f.Add(int64(1234567890), int64(120000))
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		tm := time.Unix(sec%253402300800, nsec%1e9).UTC()
		if got, want := string(appendRFC3339(nil, tm)), tm.Format(time.RFC3339Nano); got != want {
			t.Fatalf("appendRFC3339 = %s, want %s", got, want)
		}
	})
}

// AppendString's eight-bytes-at-a-time path escapes exactly what the
// byte-at-a-time path does: every string round-trips through encoding/json.
func TestAppendStringRoundTrip(t *testing.T) {
	alphabet := []string{"a", "Z", " ", "~", "\x7f", "\"", "\\", "\n", "\t", "\x00", "\x1f", "é", "東", "—", "/"}
	r := uint64(1)
	for n := range 3000 {
		var b strings.Builder
		for range n % 41 {
			r = r*6364136223846793005 + 1442695040888963407
			b.WriteString(alphabet[(r>>33)%uint64(len(alphabet))])
		}
		s := b.String()
		var got string
		if err := json.Unmarshal(AppendString(nil, s), &got); err != nil || got != s {
			t.Fatalf("%q → %s → %q (%v)", s, AppendString(nil, s), got, err)
		}
	}
}
