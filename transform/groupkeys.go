package transform

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"strings"
	"time"
)

// maxGroupHashes caps the hashes of text group keys the group mapper keeps
// (a variable for tests).
var maxGroupHashes = 1_000_000

// keyOrder detects a group key that comes back after its group ended, which
// would publish two documents with the same key. Numbers, decimals, times and
// booleans order the same in SQL and here, so such keys must rise or fall
// throughout: comparing neighbours takes O(1) memory. Text keys may follow a
// collation that is not byte order, so they are remembered as 64-bit hashes,
// up to maxGroupHashes groups; past that they must be in byte order (checked
// from neighbours again), or the feed fails.
type keyOrder struct {
	feed, column string
	time         bool // keys are times (compared as UnixNano)

	prev     any // the last non-NULL key
	dir      int // +1 rising, -1 falling, 0 not known yet
	disorder bool
	nullSeen bool
	seed     maphash.Seed
	hashes   *hashSet
	dropped  bool // hashes dropped: text keys were in byte order for maxGroupHashes groups
}

// begin checks the key k (a groupKey) of a group that begins.
func (o *keyOrder) begin(k any) error {
	if k == nil {
		if o.nullSeen {
			return o.comesBack(k)
		}
		o.nullSeen = true
		return nil
	}
	prev := o.prev
	o.prev = k
	s, text := k.(string)
	if prev != nil {
		c, ok := compareKeys(prev, k)
		switch {
		case !ok:
			return fmt.Errorf("feed %q: group key %s (column %s) follows %s, a key of another type: the group key must have one type",
				o.feed, o.show(k), o.column, o.show(prev))
		case c == 0 || (o.dir != 0 && c != o.dir):
			if !text {
				return fmt.Errorf("feed %q: group key %s (column %s) follows %s: a key that comes back after its group ended would publish a second document, so number and time keys must rise or fall throughout (ORDER BY %s)",
					o.feed, o.show(k), o.column, o.show(prev), o.column)
			}
			o.disorder = true
		default:
			o.dir = c
		}
	}
	if !text {
		return nil
	}
	if o.dropped {
		if o.disorder {
			return fmt.Errorf("feed %q: group key %s (column %s) follows %s: after %d groups in byte order the keys must stay in byte order (ORDER BY %s COLLATE \"C\", utf8mb4_bin or BINARY)",
				o.feed, o.show(k), o.column, o.show(prev), maxGroupHashes, o.column)
		}
		return nil
	}
	if o.hashes == nil {
		o.seed, o.hashes = maphash.MakeSeed(), &hashSet{}
	}
	h := maphash.String(o.seed, s)
	if o.hashes.has(h) {
		return o.comesBack(k)
	}
	if o.hashes.n >= maxGroupHashes {
		if o.disorder {
			return fmt.Errorf("feed %q: more than %d groups whose text keys (column %s) are not in byte order, too many to check that none comes back: ORDER BY %s in byte order (COLLATE \"C\", utf8mb4_bin or BINARY), or group by a number",
				o.feed, maxGroupHashes, o.column, o.column)
		}
		o.hashes, o.dropped = nil, true // neighbours suffice from here on
		return nil
	}
	o.hashes.add(h)
	return nil
}

// hashSet is a set of 64-bit hashes, open addressing with linear probing: 8
// bytes a slot, at most 3/4 full (a million hashes take 16 MiB).
type hashSet struct {
	slots []uint64 // 0: empty (hash 0 is stored as 1)
	n     int
}

// slot returns the index where h is, or the empty slot where it belongs.
func (s *hashSet) slot(h uint64) int {
	mask := uint64(len(s.slots) - 1)
	i := h & mask
	for s.slots[i] != 0 && s.slots[i] != h {
		i = (i + 1) & mask
	}
	return int(i)
}

func (s *hashSet) has(h uint64) bool {
	return s.n > 0 && s.slots[s.slot(max(h, 1))] != 0
}

func (s *hashSet) add(h uint64) {
	if 4*(s.n+1) > 3*len(s.slots) {
		old := s.slots
		s.slots, s.n = make([]uint64, max(1024, 2*len(old))), 0
		for _, x := range old {
			if x != 0 {
				s.add(x)
			}
		}
	}
	h = max(h, 1)
	if i := s.slot(h); s.slots[i] == 0 {
		s.slots[i] = h
		s.n++
	}
}

func (o *keyOrder) comesBack(k any) error {
	return fmt.Errorf("feed %q: group key %s (column %s) comes back after its group ended: the rows must be ordered by the group key (ORDER BY %s)",
		o.feed, o.show(k), o.column, o.column)
}

// show formats a key for an error.
func (o *keyOrder) show(k any) string {
	switch x := k.(type) {
	case nil:
		return "NULL"
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return fmt.Sprintf("%q", x)
	case int64:
		if o.time {
			return time.Unix(0, x).UTC().Format(time.RFC3339Nano)
		}
	}
	return fmt.Sprint(k)
}

// compareKeys returns +1, 0 or -1 as b is above, equal to or below a, and
// false for keys that do not compare (different types, NaN decimals).
func compareKeys(a, b any) (int, bool) {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return cmp.Compare(y, x), true
		case float64:
			return cmp.Compare(y, float64(x)), true
		}
	case float64:
		switch y := b.(type) {
		case float64:
			return cmp.Compare(y, x), true
		case int64:
			return cmp.Compare(float64(y), x), true
		}
	case uint64:
		if y, ok := b.(uint64); ok {
			return cmp.Compare(y, x), true
		}
	case bool:
		if y, ok := b.(bool); ok && x != y {
			if y {
				return 1, true
			}
			return -1, true
		} else if ok {
			return 0, true
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(y, x), true
		}
	case Decimal:
		if y, ok := b.(Decimal); ok && isDecimal(string(x)) && isDecimal(string(y)) {
			return compareDecimal(string(y), string(x)), true
		}
	}
	return 0, false
}

// compareDecimal compares two decimal literals (-?digits(.digits)?) by value.
func compareDecimal(a, b string) int {
	negA, negB := strings.HasPrefix(a, "-"), strings.HasPrefix(b, "-")
	ia, fa := splitDecimal(strings.TrimPrefix(a, "-"))
	ib, fb := splitDecimal(strings.TrimPrefix(b, "-"))
	zeroA, zeroB := ia == "" && fa == "", ib == "" && fb == ""
	switch {
	case zeroA && zeroB:
		return 0
	case zeroA:
		negA = !negB
	case zeroB:
		negB = !negA
	}
	if negA != negB {
		if negA {
			return -1
		}
		return 1
	}
	c := cmp.Compare(len(ia), len(ib))
	if c == 0 {
		c = strings.Compare(ia, ib)
	}
	if c == 0 {
		c = strings.Compare(fa, fb) // no trailing zeros: prefix order is value order
	}
	if negA {
		return -c
	}
	return c
}

// splitDecimal returns the integer digits without leading zeros and the
// fraction digits without trailing zeros.
func splitDecimal(s string) (string, string) {
	i, f, _ := strings.Cut(s, ".")
	return strings.TrimLeft(i, "0"), strings.TrimRight(f, "0")
}
