package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/db"
)

// dbServerPID returns the process listening on the TCP port of dsn (the
// database server: mariadbd, the PostgreSQL postmaster), or 0 when it cannot
// be found (not local, no /proc, no permission).
func dbServerPID(dsn string) int {
	d, err := db.ParseDSN(dsn)
	if err != nil || d.URL == nil {
		return 0
	}
	port, err := strconv.ParseUint(d.URL.Port(), 10, 16)
	if err != nil {
		return 0
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(l)
			// sl local_address rem_address st ... inode (field 9); st 0A = LISTEN
			if len(fs) < 10 || fs[3] != "0A" || !strings.HasSuffix(fs[1], fmt.Sprintf(":%04X", port)) {
				continue
			}
			inodes["socket:["+fs[9]+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		if l, err := os.Readlink(fd); err == nil && inodes[l] {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid
		}
	}
	return 0
}

// dbServerCPU returns the CPU time used so far by the server process pid, its
// threads, its reaped children (cutime, cstime: PostgreSQL's backends that
// ended) and its live children (the backends still running).
func dbServerCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	t := procStat(pid, true)
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		_, rest, ok := strings.Cut(string(b), ") ")
		if f := strings.Fields(rest); ok && len(f) > 1 && f[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(strings.Split(st, "/")[2])
			t += procStat(child, false)
		}
	}
	return t
}

// procStat returns utime + stime of pid (/proc/PID/stat), plus cutime +
// cstime when children is set.
func procStat(pid int, children bool) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(b), ") ") // the command may contain spaces
	if !ok {
		return 0
	}
	f := strings.Fields(rest)
	if len(f) < 15 {
		return 0
	}
	n := 2
	if children {
		n = 4
	}
	var ticks int64
	for _, v := range f[11 : 11+n] {
		x, _ := strconv.ParseInt(v, 10, 64)
		ticks += x
	}
	return time.Duration(ticks) * time.Second / clockTick
}
