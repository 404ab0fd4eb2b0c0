package db

import (
	"context"
	"fmt"
	"strings"
)

// WriteAccess reports what lets the configured user write, or "" when it can
// only read as far as sqlfeed can tell: on MySQL/MariaDB a write privilege in
// SHOW GRANTS (ALL, INSERT, UPDATE, DELETE, CREATE…, DROP…, ALTER…, FILE,
// SUPER, EXECUTE, TRIGGER, EVENT, INDEX); on PostgreSQL superuser, membership
// of pg_execute_server_program or pg_write_server_files, or INSERT, UPDATE,
// DELETE or TRUNCATE on some table. SQLite files are opened read-only: "".
func (db *DB) WriteAccess(ctx context.Context) (string, error) {
	var (
		found []string
		err   error
	)
	switch db.Engine() {
	case "mysql":
		found, err = db.mysqlWriteGrants(ctx)
	case "postgres":
		found, err = db.postgresWriteAccess(ctx)
	}
	if err != nil {
		return "", db.errorf("check privileges", err)
	}
	return strings.Join(found, "; "), nil
}

// mysqlWriteGrants returns the write privileges SHOW GRANTS lists.
func (db *DB) mysqlWriteGrants(ctx context.Context) ([]string, error) {
	rows, err := db.X.QueryContext(ctx, "SHOW GRANTS")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var found []string
	seen := map[string]bool{}
	for rows.Next() {
		var grant string
		if err := rows.Scan(&grant); err != nil {
			return nil, err
		}
		privs, _, ok := strings.Cut(strings.TrimPrefix(grant, "GRANT "), " ON ")
		if !ok {
			continue // a granted role
		}
		for _, p := range strings.Split(privs, ",") {
			p, _, _ = strings.Cut(strings.TrimSpace(p), " (") // column list
			if mysqlWritePrivilege(p) && !seen[p] {
				seen[p] = true
				found = append(found, p)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(found) > 0 {
		return []string{"SHOW GRANTS lists " + strings.Join(found, ", ")}, nil
	}
	return nil, nil
}

func mysqlWritePrivilege(p string) bool {
	switch p {
	case "ALL", "ALL PRIVILEGES", "INSERT", "UPDATE", "DELETE", "DELETE HISTORY", "FILE", "SUPER",
		"EXECUTE", "TRIGGER", "EVENT", "INDEX":
		return true
	}
	return strings.HasPrefix(p, "CREATE") || strings.HasPrefix(p, "DROP") || strings.HasPrefix(p, "ALTER")
}

// postgresWriteAccess returns what lets the PostgreSQL user write.
func (db *DB) postgresWriteAccess(ctx context.Context) ([]string, error) {
	var super, program, files bool
	var tables int64
	err := db.X.QueryRowContext(ctx, `SELECT r.rolsuper,
		pg_has_role('pg_execute_server_program', 'MEMBER'), pg_has_role('pg_write_server_files', 'MEMBER'),
		(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
		   AND (has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE')
		        OR has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE')))
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(&super, &program, &files, &tables)
	if err != nil {
		return nil, err
	}
	var found []string
	if super {
		found = append(found, "superuser")
	}
	if program {
		found = append(found, "member of pg_execute_server_program")
	}
	if files {
		found = append(found, "member of pg_write_server_files")
	}
	if tables > 0 {
		found = append(found, fmt.Sprintf("INSERT, UPDATE, DELETE or TRUNCATE on %d tables", tables))
	}
	return found, nil
}
