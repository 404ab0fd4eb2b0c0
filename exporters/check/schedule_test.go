package check

import (
	"testing"
	"time"
)

func TestInterval(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC) // a Thursday
	for _, c := range []struct {
		expr string
		want time.Duration
	}{
		{"rate(1 hour)", time.Hour},
		{"rate(5 minutes)", 5 * time.Minute},
		{"rate(2 days)", 48 * time.Hour},
		{"cron(15 2 * * ? *)", 24 * time.Hour},
		{"cron(0/15 * * * ? *)", 15 * time.Minute},
		{"cron(0 8,20 * * ? *)", 12 * time.Hour},
		{"cron(0 9 ? * MON-FRI *)", 72 * time.Hour},   // Friday to Monday
		{"cron(0 6 ? * 2,6 *)", 4 * 24 * time.Hour},   // Monday, Friday: Fri→Mon 3 days, Mon→Fri 4
		{"cron(0 0 1 * ? *)", 31 * 24 * time.Hour},    // 1 Jan after 1 Dec: the month after the window
		{"cron(0 0 L * ? *)", 31 * 24 * time.Hour},    // 31 Dec → 31 Jan
		{"cron(0 12 ? * 6#1 *)", 28 * 24 * time.Hour}, // first Friday: 4 Dec → 1 Jan
		{"cron(30 23 ? * 1L *)", 35 * 24 * time.Hour}, // last Sunday: 27 Dec → 31 Jan
		{"cron(0 0 15W * ? *)", 31 * 24 * time.Hour},  // Tue 15 Dec → Fri 15 Jan
	} {
		got, err := Interval(c.expr, now)
		if err != nil || got != c.want {
			t.Errorf("Interval(%s) = %v, %v; want %v", c.expr, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "every hour", "rate(0 hours)", "rate(1 week)", "cron(0 0 * * * *)",
		"cron(0 0 ? * ? *)", "cron(61 0 * * ? *)", "cron(0 0 * *)", "cron(0 0 1 1 ? 2020)"} {
		if d, err := Interval(bad, now); err == nil {
			t.Errorf("Interval(%q) = %v, want an error", bad, d)
		}
	}
}
