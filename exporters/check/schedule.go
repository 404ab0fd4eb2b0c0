package check

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Interval returns the longest time between two consecutive runs of an
// EventBridge schedule expression: rate(N unit), or cron(min hour dom month
// dow year) in UTC, where it is the longest gap between consecutive fire
// times from now over the next 7 days (and up to the first fire time after
// them, so a monthly cron gets its month).
func Interval(expr string, now time.Time) (time.Duration, error) {
	expr = strings.TrimSpace(expr)
	switch {
	case strings.HasPrefix(expr, "rate(") && strings.HasSuffix(expr, ")"):
		return rateInterval(expr[len("rate(") : len(expr)-1])
	case strings.HasPrefix(expr, "cron(") && strings.HasSuffix(expr, ")"):
		c, err := parseCron(expr[len("cron(") : len(expr)-1])
		if err != nil {
			return 0, fmt.Errorf("schedule %s: %w", expr, err)
		}
		d, err := c.longestGap(now, 7*24*time.Hour)
		if err != nil {
			return 0, fmt.Errorf("schedule %s: %w", expr, err)
		}
		return d, nil
	}
	return 0, fmt.Errorf("schedule %q: want rate(...) or cron(...)", expr)
}

func rateInterval(s string) (time.Duration, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, fmt.Errorf("schedule rate(%s): want rate(N unit)", s)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 {
		return 0, fmt.Errorf("schedule rate(%s): %q is not a positive number", s, f[0])
	}
	unit := map[string]time.Duration{
		"minute": time.Minute, "minutes": time.Minute, "hour": time.Hour, "hours": time.Hour,
		"day": 24 * time.Hour, "days": 24 * time.Hour,
	}[f[1]]
	if unit == 0 {
		return 0, fmt.Errorf("schedule rate(%s): unit %q is not minute(s), hour(s) or day(s)", s, f[1])
	}
	return time.Duration(n) * unit, nil
}

// cron is a parsed EventBridge cron expression. Each set holds the allowed
// values of its field; the special forms of day-of-month (L, nW, LW) and
// day-of-week (nL, n#k) are kept aside.
type cron struct {
	minute, hour, month, year set
	dom, dow                  set // nil: "?" (any)
	domLast, domLastWeekday   bool
	domWeekday                int          // nW: the weekday nearest day n; 0: none
	dowLast                   map[int]bool // weekday (0=Sunday) whose last occurrence in the month fires
	dowNth                    map[[2]int]bool
}

type set map[int]bool

var (
	monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	dayNames   = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
)

func parseCron(s string) (*cron, error) {
	f := strings.Fields(s)
	if len(f) != 6 {
		return nil, fmt.Errorf("want 6 fields (minutes hours day-of-month month day-of-week year), got %d", len(f))
	}
	c := &cron{}
	var err error
	if c.minute, err = parseField(f[0], 0, 59, nil); err != nil {
		return nil, fmt.Errorf("minutes: %w", err)
	}
	if c.hour, err = parseField(f[1], 0, 23, nil); err != nil {
		return nil, fmt.Errorf("hours: %w", err)
	}
	if c.month, err = parseField(f[3], 1, 12, monthNames); err != nil {
		return nil, fmt.Errorf("month: %w", err)
	}
	if c.year, err = parseField(f[5], 1970, 2199, nil); err != nil {
		return nil, fmt.Errorf("year: %w", err)
	}
	switch dom := strings.ToUpper(f[2]); {
	case dom == "?":
	case dom == "L":
		c.domLast = true
	case dom == "LW":
		c.domLastWeekday = true
	case strings.HasSuffix(dom, "W"):
		n, err := strconv.Atoi(strings.TrimSuffix(dom, "W"))
		if err != nil || n < 1 || n > 31 {
			return nil, fmt.Errorf("day-of-month: bad %q", f[2])
		}
		c.domWeekday = n
	default:
		if c.dom, err = parseField(dom, 1, 31, nil); err != nil {
			return nil, fmt.Errorf("day-of-month: %w", err)
		}
	}
	switch dow := strings.ToUpper(f[4]); {
	case dow == "?":
	case strings.Contains(dow, "#"):
		d, k, _ := strings.Cut(dow, "#")
		wd, err1 := dayValue(d)
		n, err2 := strconv.Atoi(k)
		if err1 != nil || err2 != nil || n < 1 || n > 5 {
			return nil, fmt.Errorf("day-of-week: bad %q", f[4])
		}
		c.dowNth = map[[2]int]bool{{wd - 1, n}: true}
	case strings.HasSuffix(dow, "L") && dow != "L":
		wd, err := dayValue(strings.TrimSuffix(dow, "L"))
		if err != nil {
			return nil, fmt.Errorf("day-of-week: bad %q", f[4])
		}
		c.dowLast = map[int]bool{wd - 1: true}
	default:
		if dow == "L" {
			dow = "7" // L alone in day-of-week means Saturday
		}
		if c.dow, err = parseField(dow, 1, 7, dayNames); err != nil {
			return nil, fmt.Errorf("day-of-week: %w", err)
		}
	}
	domAny := f[2] == "?"
	dowAny := f[4] == "?"
	if domAny == dowAny {
		return nil, fmt.Errorf("exactly one of day-of-month and day-of-week must be ?")
	}
	return c, nil
}

func dayValue(s string) (int, error) {
	if v, ok := dayNames[s]; ok {
		return v, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 7 {
		return 0, fmt.Errorf("bad day %q", s)
	}
	return n, nil
}

// parseField parses "*", "a", "a-b", "a/n", "a-b/n", "*/n" and lists of them.
func parseField(s string, lo, hi int, names map[string]int) (set, error) {
	out := set{}
	value := func(v string) (int, error) {
		if n, ok := names[strings.ToUpper(v)]; ok {
			return n, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("bad value %q (want %d-%d)", v, lo, hi)
		}
		return n, nil
	}
	for _, part := range strings.Split(s, ",") {
		rng, step := part, 1
		if r, st, ok := strings.Cut(part, "/"); ok {
			n, err := strconv.Atoi(st)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("bad step %q", part)
			}
			rng, step = r, n
		}
		a, b := lo, hi
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			x, y, _ := strings.Cut(rng, "-")
			var err error
			if a, err = value(x); err != nil {
				return nil, err
			}
			if b, err = value(y); err != nil {
				return nil, err
			}
		default:
			v, err := value(rng)
			if err != nil {
				return nil, err
			}
			a = v
			if !strings.Contains(part, "/") {
				b = v
			}
		}
		if a > b {
			return nil, fmt.Errorf("bad range %q", part)
		}
		for v := a; v <= b; v += step {
			out[v] = true
		}
	}
	return out, nil
}

// matchesDay reports whether the cron fires on day t (UTC).
func (c *cron) matchesDay(t time.Time) bool {
	if !c.year[t.Year()] || !c.month[int(t.Month())] {
		return false
	}
	last := time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	d, wd := t.Day(), int(t.Weekday())
	switch {
	case c.domLast:
		return d == last
	case c.domLastWeekday:
		return d == nearestWeekday(t, last)
	case c.domWeekday > 0:
		return d == nearestWeekday(t, min(c.domWeekday, last))
	case c.dom != nil:
		return c.dom[d]
	case c.dowLast != nil:
		return c.dowLast[wd] && d+7 > last
	case c.dowNth != nil:
		return c.dowNth[[2]int{wd, (d-1)/7 + 1}]
	}
	return c.dow[wd+1]
}

// nearestWeekday is the weekday (Mon-Fri) nearest day n of t's month, in it.
func nearestWeekday(t time.Time, n int) int {
	day := time.Date(t.Year(), t.Month(), n, 0, 0, 0, 0, time.UTC)
	last := time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	switch day.Weekday() {
	case time.Saturday:
		if n == 1 {
			return 3
		}
		return n - 1
	case time.Sunday:
		if n == last {
			return n - 2
		}
		return n + 1
	}
	return n
}

// longestGap is the longest gap between consecutive fire times from now over
// window, including the first fire time after the window.
func (c *cron) longestGap(now time.Time, window time.Duration) (time.Duration, error) {
	t := now.UTC().Truncate(time.Minute).Add(time.Minute)
	end := t.Add(window)
	limit := t.AddDate(2, 0, 0)
	var prev time.Time
	var longest time.Duration
	for !t.After(limit) {
		if !c.matchesDay(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if c.hour[t.Hour()] && c.minute[t.Minute()] {
			if !prev.IsZero() {
				longest = max(longest, t.Sub(prev))
			}
			if t.After(end) && !prev.IsZero() {
				return longest, nil
			}
			prev = t
		}
		t = t.Add(time.Minute)
	}
	if longest == 0 {
		return 0, fmt.Errorf("fires fewer than twice in the next two years")
	}
	return longest, nil
}
