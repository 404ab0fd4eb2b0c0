package db

import (
	"fmt"
	"strings"
)

// checkStatement refuses, before it reaches the server, a query that is not
// one statement reading rows: it must start with SELECT, WITH, VALUES, TABLE
// or "(", contain no INTO (MySQL SELECT … INTO OUTFILE/DUMPFILE/@var,
// PostgreSQL SELECT … INTO table) and nothing but comments after a ';'.
// Strings, quoted identifiers and comments are skipped by the engine's rules
// (MySQL: backslash escapes, '#' comments, and /*! … */ is code; PostgreSQL:
// E'…' strings, $tag$ quoting, nested comments). The servers enforce one
// statement too (no multi-statement protocol is allowed); this check also
// covers SQLite, whose driver runs every statement of a string, and gives
// the clear error.
func checkStatement(engine, query string) error {
	t := tokenizer{s: query, engine: engine}
	var refused error // the first rule broken; more than one statement wins
	first := true
	for {
		tok, ok := t.next()
		if !ok {
			return refused
		}
		word := strings.ToUpper(tok)
		switch {
		case word == ";":
			rest, more := t.next()
			for more && rest == ";" {
				rest, more = t.next()
			}
			if more {
				return fmt.Errorf("query refused: more than one statement (%q after ';'); a feed's query is one statement", truncateTok(rest))
			}
			return refused
		case refused != nil:
		case first && word != "SELECT" && word != "WITH" && word != "VALUES" && word != "TABLE" && word != "(":
			refused = fmt.Errorf("query refused: it starts with %q; a feed's query is one SELECT (or WITH, VALUES, TABLE) statement", truncateTok(tok))
		case word == "INTO":
			refused = fmt.Errorf("query refused: INTO is not allowed (a feed's query only reads rows)")
		}
		first = false
	}
}

func truncateTok(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// tokenizer yields the words and punctuation of SQL text outside strings,
// quoted identifiers and comments (those are skipped; a quoted text yields
// the token `"`).
type tokenizer struct {
	s      string
	i      int
	engine string
}

func isWord(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// next returns the next token, false at the end.
func (t *tokenizer) next() (string, bool) {
	for t.i < len(t.s) {
		c := t.s[t.i]
		rest := t.s[t.i:]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			t.i++
		case strings.HasPrefix(rest, "--") && (t.engine != "mysql" || len(rest) == 2 || strings.ContainsRune(" \t\n\r\f\v", rune(rest[2]))),
			c == '#' && t.engine == "mysql":
			if j := strings.IndexByte(rest, '\n'); j >= 0 {
				t.i += j + 1
			} else {
				t.i = len(t.s)
			}
		case strings.HasPrefix(rest, "/*!") && t.engine == "mysql", strings.HasPrefix(rest, "/*M!") && t.engine == "mysql":
			// Executable comment: its content is code; skip the opener and version.
			t.i += strings.IndexByte(rest, '!') + 1
			for t.i < len(t.s) && t.s[t.i] >= '0' && t.s[t.i] <= '9' {
				t.i++
			}
		case strings.HasPrefix(rest, "*/") && t.engine == "mysql":
			t.i += 2 // end of an executable comment
		case strings.HasPrefix(rest, "/*"):
			t.skipComment()
		case c == '\'':
			t.skipQuoted('\'', t.engine == "mysql" || t.eString())
			return `'`, true
		case c == '"':
			t.skipQuoted('"', t.engine == "mysql")
			return `"`, true
		case c == '`' && t.engine != "postgres":
			t.skipQuoted('`', false)
			return `"`, true
		case c == '[' && t.engine == "sqlite":
			if j := strings.IndexByte(rest, ']'); j >= 0 {
				t.i += j + 1
			} else {
				t.i = len(t.s)
			}
			return `"`, true
		case c == '$' && t.engine == "postgres" && t.dollarQuote():
			return `'`, true
		case isWord(c):
			j := t.i
			for j < len(t.s) && isWord(t.s[j]) {
				j++
			}
			tok := t.s[t.i:j]
			t.i = j
			return tok, true
		default:
			t.i++
			return string(c), true
		}
	}
	return "", false
}

// eString reports whether the quote at t.i opens a PostgreSQL E'…' string.
func (t *tokenizer) eString() bool {
	if t.engine != "postgres" || t.i == 0 || t.s[t.i-1]|0x20 != 'e' {
		return false
	}
	return t.i == 1 || !isWord(t.s[t.i-2])
}

// skipQuoted skips the quoted text opening at t.i; the quote doubled is an
// escape, and so is a backslash when backslash is set.
func (t *tokenizer) skipQuoted(q byte, backslash bool) {
	t.i++
	for t.i < len(t.s) {
		c := t.s[t.i]
		switch {
		case backslash && c == '\\':
			t.i += 2
			continue
		case c == q:
			if t.i+1 < len(t.s) && t.s[t.i+1] == q {
				t.i += 2
				continue
			}
			t.i++
			return
		}
		t.i++
	}
	t.i = len(t.s)
}

// skipComment skips a /* */ comment (nested on PostgreSQL).
func (t *tokenizer) skipComment() {
	depth := 0
	for t.i < len(t.s) {
		switch {
		case strings.HasPrefix(t.s[t.i:], "/*"):
			depth++
			t.i += 2
		case strings.HasPrefix(t.s[t.i:], "*/"):
			t.i += 2
			if depth--; depth == 0 || t.engine != "postgres" {
				return
			}
		default:
			t.i++
		}
	}
}

// dollarQuote skips a PostgreSQL $tag$…$tag$ string opening at t.i and
// reports whether there was one ($1 is a parameter, not a quote).
func (t *tokenizer) dollarQuote() bool {
	if t.i > 0 && isWord(t.s[t.i-1]) {
		return false // inside a word such as a$b
	}
	j := t.i + 1
	for j < len(t.s) && t.s[j] != '$' {
		if c := t.s[j]; !isWord(c) || c == '$' || (j == t.i+1 && c >= '0' && c <= '9') {
			return false
		}
		j++
	}
	if j >= len(t.s) {
		return false
	}
	tag := t.s[t.i : j+1]
	if end := strings.Index(t.s[j+1:], tag); end >= 0 {
		t.i = j + 1 + end + len(tag)
	} else {
		t.i = len(t.s)
	}
	return true
}
