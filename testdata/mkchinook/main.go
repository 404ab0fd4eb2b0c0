// Command mkchinook builds testdata/chinook.db from the Chinook SQLite script:
//
//	go run ./testdata/mkchinook testdata/chinook/Chinook_Sqlite.sql testdata/chinook.db
package main

import (
	"database/sql"
	"fmt"
	"os"

	_ "modernc.org/sqlite"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: mkchinook SCRIPT.sql OUT.db")
		os.Exit(2)
	}
	if err := build(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "mkchinook:", err)
		os.Exit(1)
	}
}

func build(script, out string) error {
	b, err := os.ReadFile(script)
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	os.Remove(tmp)
	db, err := sql.Open("sqlite", tmp)
	if err != nil {
		return err
	}
	if _, err := db.Exec(string(b)); err != nil {
		db.Close()
		return err
	}
	if _, err := db.Exec("VACUUM"); err != nil {
		db.Close()
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
