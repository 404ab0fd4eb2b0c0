package db

import (
	"strings"
	"testing"
)

func TestHostileCheckStatement(t *testing.T) {
	tests := []struct {
		engine, query, want string // want "" = accepted
	}{
		{"sqlite", "SELECT 1", ""},
		{"sqlite", "  select a FROM t;  -- done\n /* really */ ;", ""},
		{"sqlite", "WITH x AS (SELECT 1) SELECT * FROM x", ""},
		{"sqlite", "VALUES (1)", ""},
		{"sqlite", "(SELECT 1)", ""},
		{"sqlite", "SELECT ';' AS a, \"x;y\", [z;], `w;` FROM t", ""},
		{"sqlite", "SELECT 'it''s; here' -- ; DELETE\nFROM t", ""},
		{"sqlite", "SELECT 1; SELECT 2", "more than one statement"},
		{"sqlite", "SELECT 1;DELETE FROM t", "more than one statement"},
		{"sqlite", "COMMIT; ATTACH 'x' AS z; SELECT 1", "more than one statement"},
		{"sqlite", "ATTACH 'x' AS z", `starts with "ATTACH"`},
		{"sqlite", "PRAGMA query_only=0", `starts with "PRAGMA"`},
		{"sqlite", "/* c */ DELETE FROM t", `starts with "DELETE"`},
		{"sqlite", "SELECT 1 /* unterminated ; DELETE", ""},
		{"mysql", "SELECT 'a\\'; DELETE' FROM t", ""},
		{"mysql", "SELECT \"a\\\"; b\" FROM t", ""},
		{"mysql", "SELECT 1 # ; DELETE\n", ""},
		{"mysql", "SELECT 1 --; DELETE FROM t", "more than one statement"}, // "--" needs a space on MySQL
		{"mysql", "SELECT 1 /*!; DELETE FROM t */", "more than one statement"},
		{"mysql", "SELECT 1 /*M!100000 INTO OUTFILE '/x' */", "INTO is not allowed"},
		{"mysql", "SELECT a INTO OUTFILE '/tmp/x' FROM t", "INTO is not allowed"},
		{"mysql", "SELECT `into` FROM t", ""},
		{"mysql", "SELECT 'INTO' FROM t", ""},
		{"mysql", "CALL p()", `starts with "CALL"`},
		{"postgres", "SELECT $$a; b$$, $tag$ $$ ; $tag$, $1 FROM t", ""},
		{"postgres", "SELECT E'a\\'; b' FROM t", ""},
		{"postgres", "SELECT 'a\\'; DELETE FROM t", "more than one statement"}, // standard strings: a backslash is a backslash
		{"postgres", "SELECT 1 /* a /* nested ; */ still */ FROM t", ""},
		{"postgres", "SELECT \"x\"\"; y\" FROM t", ""},
		{"postgres", "COPY (SELECT 1) TO PROGRAM 'id'", `starts with "COPY"`},
		{"postgres", "SELECT 1 INTO newtable", "INTO is not allowed"},
		{"postgres", "TABLE t", ""},
		{"postgres", "", ""},
	}
	for _, tt := range tests {
		err := checkStatement(tt.engine, tt.query)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s %q: %v, want %q", tt.engine, tt.query, err, tt.want)
		}
	}
}

// FuzzCheckStatement: the check never panics, and a query it accepts stays
// accepted with a trailing ";" and comment, and refused once a second
// statement follows.
func FuzzCheckStatement(f *testing.F) {
	for _, s := range []string{"SELECT 1", "SELECT 'a;b'", "SELECT $$x$$", "SELECT `a`", "SELECT [a]", "SELECT 1 /*!x*/", "SELECT E'\\''"} {
		f.Add("postgres", s)
		f.Add("mysql", s)
		f.Add("sqlite", s)
	}
	f.Fuzz(func(t *testing.T, engine, q string) {
		if checkStatement(engine, q) != nil || strings.ContainsAny(q, "\x00") {
			return
		}
		if err := checkStatement(engine, q+"\n;"); err != nil && strings.Contains(err.Error(), "more than one") {
			t.Fatalf("%q accepted, with a trailing ';' refused: %v", q, err)
		}
	})
}
