#!/usr/bin/env bash
# Makes sure the servers the tests talk to are up: MariaDB and PostgreSQL
# (installed from Debian's packages if missing, started if stopped), and that the
# tools the S3 tests start are installed: the pinned MinIO (scripts/minio.sh;
# each test starts its own server) and the AWS CLI v2 at /usr/bin/aws.
set -euo pipefail

need_apt_update=1
apt_install() {
  if [ "$need_apt_update" = 1 ]; then apt-get update -qq; need_apt_update=0; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_port() { # host port name
  for _ in $(seq 1 60); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "test-services: $3 did not come up on $1:$2" >&2
  return 1
}

# MariaDB
if ! (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; then
  [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server
  install -d -o mysql -g mysql /run/mysqld
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
fi
wait_port 127.0.0.1 3306 MariaDB
# Tests connect as root over TCP without a password (a fresh Debian install lets
# root in through the socket only), create databases, and move 16 MiB BLOBs.
mysql_root() { mariadb -uroot -h127.0.0.1 "$@" 2>/dev/null || mariadb -uroot "$@"; }
mysql_root -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
  GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
  CREATE DATABASE IF NOT EXISTS test;
  SET GLOBAL max_allowed_packet = 67108864;"

# PostgreSQL
pg_version() { ls /etc/postgresql | sort -n | tail -1; }
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  ls /etc/postgresql >/dev/null 2>&1 || apt_install postgresql
  pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main start
fi
wait_port 127.0.0.1 5432 PostgreSQL
# Tests connect as postgres over TCP without a password (trust on loopback only).
if ! psql -h 127.0.0.1 -U postgres -d postgres -c 'select 1' >/dev/null 2>&1; then
  hba="/etc/postgresql/$(pg_version)/main/pg_hba.conf"
  sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main reload
  sleep 1
fi
psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1 || \
  psql -h 127.0.0.1 -U postgres -d postgres -c 'CREATE DATABASE test' >/dev/null

echo "test-services: MariaDB and PostgreSQL are up"

# MinIO: built once into a cache outside the repo; tests start it themselves.
minio_bin="$(bash "$(dirname "$0")/minio.sh")"
echo "test-services: MinIO at $minio_bin"

# AWS CLI v2 (Debian's awscli package) for the anonymous-consumer test; the `aws`
# found first on PATH may be v1.
[ -x /usr/bin/aws ] || apt_install awscli
echo "test-services: $(/usr/bin/aws --version 2>&1 | head -1)"
# curl (anonymous GETs) and GNU time (peak RSS of the 1 GiB publish).
command -v curl >/dev/null || apt_install curl
[ -x /usr/bin/time ] || apt_install time
# Debian's Chromium for the browser tests of the pages for people
# (exporters/pages_browser_test.go, driven by chromedp) and `make screenshots`.
[ -x /usr/bin/chromium ] || apt_install chromium
echo "test-services: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
# jq: make smoke (scripts/smoke.sh) reads the AWS CLI's JSON with it.
command -v jq >/dev/null || apt_install jq
# Node tools of the state-machine tests (infra/asltest): aws-local-stepfunctions
# and asl-validator, pinned, into the cache (scripts/stepfunctions.sh).
command -v npm >/dev/null || apt_install nodejs npm
sf_dir="$(bash "$(dirname "$0")/stepfunctions.sh")"
echo "test-services: aws-local-stepfunctions and asl-validator at $sf_dir"
