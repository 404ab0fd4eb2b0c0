package db

import (
	"testing"
	"time"
)

func TestParseMySQLTime(t *testing.T) {
	tests := []struct {
		in       string
		want     time.Time
		zero, ok bool
	}{
		{"2009-01-01", time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC), false, true},
		{"9999-12-31 23:59:59.999999", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), false, true},
		{"1000-01-01 00:00:00", time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), false, true},
		{"2024-02-29 12:30:45.5", time.Date(2024, 2, 29, 12, 30, 45, 500000000, time.UTC), false, true},
		{"0000-00-00", time.Time{}, true, true},
		{"0000-00-00 00:00:00.000000", time.Time{}, true, true},
		{"2023-02-29", time.Time{}, false, false}, // ALLOW_INVALID_DATES
		{"2009-00-10", time.Time{}, false, false}, // zero in date
		{"2009-01-01T00:00:00", time.Time{}, false, false},
		{"2009-01-01 24:00:00", time.Time{}, false, false},
		{"2009-01-01 00:00:00.", time.Time{}, false, false},
		{"2009-1-01", time.Time{}, false, false},
		{"", time.Time{}, false, false},
	}
	for _, tt := range tests {
		got, zero, ok := parseMySQLTime([]byte(tt.in))
		if !got.Equal(tt.want) || zero != tt.zero || ok != tt.ok {
			t.Errorf("%q: %v %v %v, want %v %v %v", tt.in, got, zero, ok, tt.want, tt.zero, tt.ok)
		}
	}
}
