package db_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/db"
	"github.com/sqlfeed/sqlfeed/infra/testsvc"
	"github.com/sqlfeed/sqlfeed/transform"
)

// typeCase is one column of the type matrix: its SQL type, the SQL literals of
// rows 1 and 2 (row 3 is NULL in every column) and the JSON text expected.
type typeCase struct {
	col, typ string
	vals     [2]string
	want     [2]string
	// as publishes the column as this kind (a field's `type:`) instead of
	// its natural kind.
	as transform.Kind
}

const (
	dec65    = "99999999999999999999999999999999999.999999999999999999999999999999"
	dec65Min = "-99999999999999999999999999999999999.999999999999999999999999999999"
)

var mysqlTypes = []typeCase{
	{"ti", "TINYINT", [2]string{"127", "-128"}, [2]string{"127", "-128"}, 0},
	{"tiu", "TINYINT UNSIGNED", [2]string{"255", "0"}, [2]string{"255", "0"}, 0},
	{"si", "SMALLINT", [2]string{"32767", "-32768"}, [2]string{"32767", "-32768"}, 0},
	{"siu", "SMALLINT UNSIGNED", [2]string{"65535", "0"}, [2]string{"65535", "0"}, 0},
	{"mi", "MEDIUMINT", [2]string{"8388607", "-8388608"}, [2]string{"8388607", "-8388608"}, 0},
	{"miu", "MEDIUMINT UNSIGNED", [2]string{"16777215", "0"}, [2]string{"16777215", "0"}, 0},
	{"i", "INT", [2]string{"2147483647", "-2147483648"}, [2]string{"2147483647", "-2147483648"}, 0},
	{"iu", "INT UNSIGNED", [2]string{"4294967295", "0"}, [2]string{"4294967295", "0"}, 0},
	{"bi", "BIGINT", [2]string{"9223372036854775807", "-9223372036854775808"}, [2]string{"9223372036854775807", "-9223372036854775808"}, 0},
	{"biu", "BIGINT UNSIGNED", [2]string{"18446744073709551615", "0"}, [2]string{"18446744073709551615", "0"}, 0},
	{"dec65", "DECIMAL(65,30)", [2]string{dec65, "-0.000000000000000000000000000001"}, [2]string{dec65, "-0.000000000000000000000000000001"}, 0},
	{"dec65min", "DECIMAL(65,30)", [2]string{dec65Min, "0"}, [2]string{dec65Min, "0.000000000000000000000000000000"}, 0},
	{"dec2", "DECIMAL(10,2)", [2]string{"12.5", "-0.99"}, [2]string{"12.50", "-0.99"}, 0},
	{"f", "FLOAT", [2]string{"1.1", "-3.40282e38"}, [2]string{"1.1", "-3.40282e+38"}, 0},
	{"d", "DOUBLE", [2]string{"0.1", "1.7976931348623157e308"}, [2]string{"0.1", "1.7976931348623157e+308"}, 0},
	{"dt", "DATE", [2]string{"'2009-01-01'", "'0000-00-00'"}, [2]string{`"2009-01-01"`, "null"}, 0},
	{"dtm", "DATETIME(6)", [2]string{"'9999-12-31 23:59:59.999999'", "'0000-00-00 00:00:00'"}, [2]string{`"9999-12-31T23:59:59.999999Z"`, "null"}, 0},
	{"dtm0", "DATETIME", [2]string{"'2009-01-01 00:00:00'", "'1000-01-01 00:00:00'"}, [2]string{`"2009-01-01T00:00:00Z"`, `"1000-01-01T00:00:00Z"`}, 0},
	{"ts", "TIMESTAMP(6) NULL", [2]string{"'2038-01-19 03:14:07.999999'", "'1970-01-01 00:00:01'"}, [2]string{`"2038-01-19T03:14:07.999999Z"`, `"1970-01-01T00:00:01Z"`}, 0},
	{"tm", "TIME", [2]string{"'13:45:00'", "'838:59:59'"}, [2]string{`"13:45:00"`, `"838:59:59"`}, 0},
	{"tm6", "TIME(6)", [2]string{"'-838:59:59.000000'", "'00:00:00.5'"}, [2]string{`"-838:59:59.000000"`, `"00:00:00.500000"`}, 0},
	{"yr", "YEAR", [2]string{"2155", "1901"}, [2]string{"2155", "1901"}, 0},
	{"b1", "BIT(1)", [2]string{"b'1'", "b'0'"}, [2]string{"true", "false"}, 0},
	{"b12", "BIT(12)", [2]string{"b'111111111111'", "b'0'"}, [2]string{"4095", "0"}, transform.KindInt},
	{"vc", "VARCHAR(100) CHARACTER SET utf8mb4", [2]string{"'héllo 🎉 世界'", "''"}, [2]string{`"héllo 🎉 世界"`, `""`}, 0},
	{"esc", "VARCHAR(100)", [2]string{`'a"b\\c\nd\t<&>'`, "' '"}, [2]string{`"a\"b\\c\nd\t<&>"`, `" "`}, 0},
	{"lat", "VARCHAR(10) CHARACTER SET latin1", [2]string{"'café'", "x'FF'"}, [2]string{`"café"`, `"ÿ"`}, 0},
	{"ch", "CHAR(3)", [2]string{"'ab'", "'abc'"}, [2]string{`"ab"`, `"abc"`}, 0},
	{"txt", "LONGTEXT", [2]string{"'x'", "REPEAT('ab', 5000)"}, [2]string{`"x"`, `"` + strings.Repeat("ab", 5000) + `"`}, 0},
	{"vb", "VARBINARY(10)", [2]string{"x'00FF'", "''"}, [2]string{`"AP8="`, `""`}, 0},
	{"bad", "VARBINARY(10)", [2]string{"x'61FF62'", "x'C3'"}, [2]string{`"a` + "\ufffd" + `b"`, `"` + "\ufffd" + `"`}, transform.KindString},
	{"bl", "LONGBLOB", [2]string{"x'0102'", "''"}, [2]string{`"AQI="`, `""`}, 0},
	{"js", "JSON", [2]string{`'{"a": [1, 2.50, {"b": null}], "c": "é🎉"}'`, `'[]'`}, [2]string{`{"a":[1,2.50,{"b":null}],"c":"é🎉"}`, `[]`}, transform.KindJSON},
	{"en", "ENUM('small','large')", [2]string{"'large'", "'small'"}, [2]string{`"large"`, `"small"`}, 0},
	{"st", "SET('x','y','z')", [2]string{"'x,z'", "''"}, [2]string{`"x,z"`, `""`}, 0},
	{"uu", "UUID", [2]string{"'123e4567-e89b-12d3-a456-426614174000'", "'00000000-0000-0000-0000-000000000000'"}, [2]string{`"123e4567-e89b-12d3-a456-426614174000"`, `"00000000-0000-0000-0000-000000000000"`}, 0},
}

var postgresTypes = []typeCase{
	{"si", "SMALLINT", [2]string{"32767", "-32768"}, [2]string{"32767", "-32768"}, 0},
	{"i", "INTEGER", [2]string{"2147483647", "-2147483648"}, [2]string{"2147483647", "-2147483648"}, 0},
	{"bi", "BIGINT", [2]string{"9223372036854775807", "-9223372036854775808"}, [2]string{"9223372036854775807", "-9223372036854775808"}, 0},
	{"dec65", "NUMERIC(65,30)", [2]string{dec65, "-0.000000000000000000000000000001"}, [2]string{dec65, "-0.000000000000000000000000000001"}, 0},
	{"dec65min", "NUMERIC(65,30)", [2]string{dec65Min, "0"}, [2]string{dec65Min, "0.000000000000000000000000000000"}, 0},
	{"dec2", "NUMERIC(10,2)", [2]string{"12.5", "-0.99"}, [2]string{"12.50", "-0.99"}, 0},
	{"num", "NUMERIC", [2]string{"'NaN'", "123456789012345678901234567890.123456789"}, [2]string{"null", "123456789012345678901234567890.123456789"}, 0},
	{"r", "REAL", [2]string{"1.1", "'NaN'"}, [2]string{"1.1", "null"}, 0},
	{"dp", "DOUBLE PRECISION", [2]string{"'Infinity'", "'-Infinity'"}, [2]string{"null", "null"}, 0},
	{"dp2", "DOUBLE PRECISION", [2]string{"0.1", "1.7976931348623157e308"}, [2]string{"0.1", "1.7976931348623157e+308"}, 0},
	{"bo", "BOOLEAN", [2]string{"true", "false"}, [2]string{"true", "false"}, 0},
	{"dt", "DATE", [2]string{"'2009-01-01'", "'infinity'"}, [2]string{`"2009-01-01"`, "null"}, 0},
	{"tsp", "TIMESTAMP(6)", [2]string{"'9999-12-31 23:59:59.999999'", "'2009-01-01 00:00:00'"}, [2]string{`"9999-12-31T23:59:59.999999Z"`, `"2009-01-01T00:00:00Z"`}, 0},
	{"tstz", "TIMESTAMPTZ", [2]string{"'2009-01-01 12:00:00.123456+02'", "'9999-12-31 23:59:59.999999+00'"}, [2]string{`"2009-01-01T10:00:00.123456Z"`, `"9999-12-31T23:59:59.999999Z"`}, 0},
	{"tm", "TIME", [2]string{"'13:45:00'", "'23:59:59.999999'"}, [2]string{`"13:45:00"`, `"23:59:59.999999"`}, 0},
	{"tx", "TEXT", [2]string{"'héllo 🎉 世界'", "''"}, [2]string{`"héllo 🎉 世界"`, `""`}, 0},
	{"esc", "VARCHAR(100)", [2]string{`E'a"b\\c\nd\t<&>'`, "' '"}, [2]string{`"a\"b\\c\nd\t<&>"`, `" "`}, 0},
	{"ch", "CHAR(3)", [2]string{"'ab'", "'abc'"}, [2]string{`"ab "`, `"abc"`}, 0},
	{"by", "BYTEA", [2]string{`'\x00ff'`, "''"}, [2]string{`"AP8="`, `""`}, 0},
	{"bad", "BYTEA", [2]string{`'\x61ff62'`, `'\xc3'`}, [2]string{`"a` + "\ufffd" + `b"`, `"` + "\ufffd" + `"`}, transform.KindString},
	{"js", "JSON", [2]string{`'{"b": [1, 2.50, {"c": null}], "a": "é🎉"}'`, `'[]'`}, [2]string{`{"b":[1,2.50,{"c":null}],"a":"é🎉"}`, `[]`}, 0},
	{"jsb", "JSONB", [2]string{`'{"b": [1, 2.50, {"c": null}], "a": "é🎉"}'`, `'"s"'`}, [2]string{`{"a":"é🎉","b":[1,2.50,{"c":null}]}`, `"s"`}, 0},
	{"ai", "INTEGER[]", [2]string{"'{1,-2,NULL}'", "'{}'"}, [2]string{"[1,-2,null]", "[]"}, 0},
	{"aii", "BIGINT[][]", [2]string{"'{{1,2},{3,4}}'", "'{{9223372036854775807}}'"}, [2]string{"[[1,2],[3,4]]", "[[9223372036854775807]]"}, 0},
	{"at", "TEXT[]", [2]string{`ARRAY['a b', 'c"d', NULL, 'NULL', 'é,{}']`, "'{x}'"}, [2]string{`["a b","c\"d",null,"NULL","é,{}"]`, `["x"]`}, 0},
	{"an", "NUMERIC(5,2)[]", [2]string{"'{1.5,-0.25}'", "'{}'"}, [2]string{"[1.50,-0.25]", "[]"}, 0},
	{"ab", "BOOLEAN[]", [2]string{"'{t,f,NULL}'", "'{}'"}, [2]string{"[true,false,null]", "[]"}, 0},
	{"af", "DOUBLE PRECISION[]", [2]string{"'{0.1,NaN}'", "'{}'"}, [2]string{"[0.1,null]", "[]"}, 0},
	{"ats", "TIMESTAMPTZ[]", [2]string{"'{\"2009-01-01 12:00:00+02\"}'", "'{}'"}, [2]string{`["2009-01-01T10:00:00Z"]`, "[]"}, 0},
	{"aby", "BYTEA[]", [2]string{`ARRAY['\x00ff'::bytea, '', NULL]`, "'{}'"}, [2]string{`["AP8=","",null]`, "[]"}, 0},
	{"ajs", "JSONB[]", [2]string{`ARRAY['{"a": [1]}'::jsonb, 'null']`, "'{}'"}, [2]string{`[{"a":[1]},null]`, "[]"}, 0},
	{"ad", "DATE[]", [2]string{"'{2009-01-01,NULL}'", "'{}'"}, [2]string{`["2009-01-01",null]`, "[]"}, 0},
	{"uu", "UUID", [2]string{"'123e4567-e89b-12d3-a456-426614174000'", "'00000000-0000-0000-0000-000000000000'"}, [2]string{`"123e4567-e89b-12d3-a456-426614174000"`, `"00000000-0000-0000-0000-000000000000"`}, 0},
	{"en", "mood", [2]string{"'happy'", "'sad'"}, [2]string{`"happy"`, `"sad"`}, 0},
}

// warnings each matrix produces: invalid UTF-8 (2 values) plus, on Postgres,
// NaN numeric, NaN real, ±Infinity, infinity date and NaN in an array.
var typeWarnings = map[string]int{"mysql": 2, "postgres": 8}

func TestTypeMatrix(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			cases := mysqlTypes
			if engine == "postgres" {
				cases = postgresTypes
				tdb.Exec(t, "CREATE TYPE mood AS ENUM ('sad', 'happy')")
			}
			var defs, names []string
			for _, c := range cases {
				defs = append(defs, c.col+" "+c.typ)
				names = append(names, c.col)
			}
			tdb.Exec(t, "CREATE TABLE types (id INT PRIMARY KEY, "+strings.Join(defs, ", ")+")")
			for row := range 2 {
				var vals []string
				for _, c := range cases {
					vals = append(vals, c.vals[row])
				}
				tdb.Exec(t, fmt.Sprintf("INSERT INTO types (id, %s) VALUES (%d, %s)", strings.Join(names, ", "), row+1, strings.Join(vals, ", ")))
			}
			tdb.Exec(t, "INSERT INTO types (id) VALUES (3)")

			d := open(t, tdb, db.Options{})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cur, err := d.Query(ctx, "SELECT * FROM types ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			defer cur.Close()
			cols := cur.Columns()
			env := transform.NewEnv(time.UTC)
			for row := 0; cur.Next(); row++ {
				for i, c := range cases {
					col := cols[i+1]
					got, err := env.Append(nil, cur.Row()[i+1], &col, c.as, -1)
					if err != nil {
						t.Errorf("%s %s row %d: %v", c.col, c.typ, row+1, err)
						continue
					}
					want := "null"
					if row < 2 {
						want = c.want[row]
					}
					if string(got) != want {
						t.Errorf("%s %s (driver type %s, kind %s) row %d: got %s, want %s", c.col, c.typ, col.DBType, col.Kind, row+1, got, want)
					}
				}
			}
			if err := cur.Err(); err != nil {
				t.Fatal(err)
			}
			if env.Warnings != typeWarnings[engine] {
				t.Errorf("warnings = %d (first: %s), want %d", env.Warnings, env.FirstWarning, typeWarnings[engine])
			}
		})
	}
}

// TestBigBlob reads a 16 MiB BLOB/BYTEA and a 0-byte one.
func TestBigBlob(t *testing.T) {
	blob := make([]byte, 16<<20)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	want := `"` + base64.StdEncoding.EncodeToString(blob) + `"`
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			typ := "LONGBLOB"
			if engine == "postgres" {
				typ = "BYTEA"
			}
			tdb.Exec(t, "CREATE TABLE blobs (id INT PRIMARY KEY, b "+typ+")")
			ins := "INSERT INTO blobs VALUES (1, ?), (2, ?)"
			if engine == "postgres" {
				ins = "INSERT INTO blobs VALUES (1, $1), (2, $2)"
			}
			tdb.Exec(t, ins, blob, []byte{})
			rows, _ := queryJSON(t, open(t, tdb, db.Options{}), "SELECT b FROM blobs ORDER BY id")
			if len(rows) != 2 {
				t.Fatalf("%d rows", len(rows))
			}
			if got := rows[0]; got != "["+want+"]" {
				t.Errorf("16 MiB blob: got %d bytes (sha256 %x), want %d", len(got), sha256.Sum256([]byte(got)), len(want)+2)
			}
			if rows[1] != `[""]` {
				t.Errorf("empty blob: got %s", rows[1])
			}
		})
	}
}

// TestTimeZones: zone-less columns (DATETIME, TIMESTAMP WITHOUT TIME ZONE,
// DATE) are wall-clock times read in the feed's time zone; instants (MySQL
// TIMESTAMP, TIMESTAMPTZ) are published as they are, whatever the zone.
func TestTimeZones(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			tdb := testsvc.Engines[engine](t)
			if engine == "postgres" {
				tdb.Exec(t, "CREATE TABLE tz (wall TIMESTAMP(6), instant TIMESTAMPTZ, day DATE)")
				tdb.Exec(t, "INSERT INTO tz VALUES ('2009-07-01 12:00:00.5', '2009-07-01 12:00:00.5+00', '2009-07-01')")
			} else {
				tdb.Exec(t, "CREATE TABLE tz (wall DATETIME(6), instant TIMESTAMP(6) NULL, day DATE)")
				tdb.Exec(t, "INSERT INTO tz VALUES ('2009-07-01 12:00:00.5', '2009-07-01 12:00:00.5', '2009-07-01')") // Admin's session zone is UTC
			}
			d := open(t, tdb, db.Options{})
			c, err := d.Query(context.Background(), "SELECT wall, instant, day FROM tz")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if !c.Next() {
				t.Fatal(c.Err())
			}
			env := transform.NewEnv(paris)
			var got []string
			for i, v := range c.Row() {
				b, err := env.Append(nil, v, &c.Columns()[i], transform.KindAny, -1)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(b))
			}
			want := `"2009-07-01T10:00:00.5Z" "2009-07-01T12:00:00.5Z" "2009-07-01"`
			if strings.Join(got, " ") != want {
				t.Errorf("got %s, want %s", strings.Join(got, " "), want)
			}
		})
	}
}
