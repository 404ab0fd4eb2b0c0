package db

import "time"

// parseMySQLTime parses the text protocol's DATE and DATETIME/TIMESTAMP forms,
// "2006-01-02" and "2006-01-02 15:04:05[.ffffff]", as a wall-clock time in UTC
// (transform.Env places it in the feed's zone, or keeps it for instants). It is
// a fixed-layout parser: time.Parse costs a quarter of a MySQL export's CPU.
// zero reports MySQL's zero date (0000-00-00 ...); ok is false for anything
// else that is not a valid date and time.
func parseMySQLTime(b []byte) (t time.Time, zero, ok bool) {
	n := len(b)
	if n != 10 && (n < 19 || n > 26 || n == 20) {
		return t, false, false
	}
	if b[4] != '-' || b[7] != '-' {
		return t, false, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	if !ok1 || !ok2 || !ok3 {
		return t, false, false
	}
	var hour, minute, sec, nsec int
	if n > 10 {
		if b[10] != ' ' || b[13] != ':' || b[16] != ':' {
			return t, false, false
		}
		var ok4, ok5, ok6 bool
		hour, ok4 = digits(b[11:13])
		minute, ok5 = digits(b[14:16])
		sec, ok6 = digits(b[17:19])
		if !ok4 || !ok5 || !ok6 || hour > 23 || minute > 59 || sec > 59 {
			return t, false, false
		}
		if n > 19 {
			if b[19] != '.' {
				return t, false, false
			}
			frac, ok7 := digits(b[20:])
			if !ok7 {
				return t, false, false
			}
			for i := n - 20; i < 9; i++ {
				frac *= 10
			}
			nsec = frac
		}
	}
	if year == 0 && month == 0 && day == 0 {
		return t, true, true
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) {
		return t, false, false // zero-in-date or invalid dates (ALLOW_INVALID_DATES)
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), false, true
}

// digits parses an unsigned decimal number of ASCII digits.
func digits(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
