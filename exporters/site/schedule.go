package site

import (
	"strconv"
	"strings"
	"time"
)

// Interval returns the longest time between two runs of an EventBridge
// schedule expression: the period of rate(N unit), and for cron(...) the
// longest gap between consecutive firings over two years from a fixed date
// (so the result, and the pages, do not depend on when they are built).
// It returns 0 when the expression is empty or not understood (L, W, #, or a
// cron that fires less than twice in that window): the pages then show no
// freshness mark.
func Interval(expr string) time.Duration {
	expr = strings.Join(strings.Fields(expr), " ")
	switch {
	case strings.HasPrefix(expr, "rate(") && strings.HasSuffix(expr, ")"):
		return rateInterval(strings.TrimSuffix(strings.TrimPrefix(expr, "rate("), ")"))
	case strings.HasPrefix(expr, "cron(") && strings.HasSuffix(expr, ")"):
		return cronInterval(strings.TrimSuffix(strings.TrimPrefix(expr, "cron("), ")"))
	}
	return 0
}

func rateInterval(s string) time.Duration {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), " ")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 1 {
		return 0
	}
	var d time.Duration
	switch strings.TrimSuffix(unit, "s") {
	case "minute":
		d = time.Minute
	case "hour":
		d = time.Hour
	case "day":
		d = 24 * time.Hour
	default:
		return 0
	}
	return time.Duration(n) * d
}

// cronBase is where cron schedules are evaluated from: a fixed date, so the
// interval of an expression never changes.
var cronBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var (
	monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	dayNames   = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
)

// cronInterval evaluates the six EventBridge cron fields
// (minutes hours day-of-month month day-of-week year).
func cronInterval(s string) time.Duration {
	f := strings.Fields(s)
	if len(f) != 6 {
		return 0
	}
	minutes, ok1 := cronField(f[0], 0, 59, nil)
	hours, ok2 := cronField(f[1], 0, 23, nil)
	doms, ok3 := cronField(f[2], 1, 31, nil)
	months, ok4 := cronField(f[3], 1, 12, monthNames)
	dows, ok5 := cronField(f[4], 1, 7, dayNames)
	years, ok6 := cronField(f[5], 1970, 2199, nil)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return 0
	}
	var prev time.Time
	var longest time.Duration
	fires := 0
	for day := cronBase; day.Before(cronBase.AddDate(2, 0, 0)); day = day.AddDate(0, 0, 1) {
		if !years[day.Year()-1970] || !months[int(day.Month())-1] || !doms[day.Day()-1] || !dows[int(day.Weekday())] {
			continue
		}
		for h := range 24 {
			if !hours[h] {
				continue
			}
			for m := range 60 {
				if !minutes[m] {
					continue
				}
				t := day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
				if fires > 0 && t.Sub(prev) > longest {
					longest = t.Sub(prev)
				}
				prev = t
				fires++
			}
		}
	}
	if fires < 2 {
		return 0
	}
	return longest
}

// cronField parses one cron field into a set indexed from lo (value lo is
// index 0): *, ?, values, names, ranges a-b, lists and steps (*/n, a/n, a-b/n).
func cronField(s string, lo, hi int, names map[string]int) ([]bool, bool) {
	set := make([]bool, hi-lo+1)
	value := func(v string) (int, bool) {
		if n, ok := names[strings.ToUpper(v)]; ok {
			return n, true
		}
		n, err := strconv.Atoi(v)
		return n, err == nil && n >= lo && n <= hi
	}
	for _, part := range strings.Split(s, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return nil, false
			}
			step = n
		}
		from, to := lo, hi
		switch {
		case rng == "*" || rng == "?":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var ok1, ok2 bool
			from, ok1 = value(a)
			to, ok2 = value(b)
			if !ok1 || !ok2 || from > to {
				return nil, false
			}
		default:
			n, ok := value(rng)
			if !ok {
				return nil, false
			}
			from = n
			if !hasStep {
				to = n
			}
		}
		for v := from; v <= to; v += step {
			set[v-lo] = true
		}
	}
	return set, true
}
