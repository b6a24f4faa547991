#!/usr/bin/env bash
# Throwaway PostgreSQL server for the test suite (used by .ci/run; handy locally too).
#
#   scripts/postgres-test-server.sh start   # init + start, create role/database, print the URL
#   scripts/postgres-test-server.sh stop    # stop and delete the cluster
#   scripts/postgres-test-server.sh status
#   scripts/postgres-test-server.sh url     # the MEDIMG_TEST_POSTGRES_URL value
#
# The cluster lives in a temp dir and listens on 127.0.0.1 only (plus a socket in /tmp).
# Needs the PostgreSQL server binaries (Debian: `apt-get install postgresql`).
set -euo pipefail

PORT="${MEDIMG_TEST_PG_PORT:-54329}"
SOCKET_DIR=/tmp
# Fixed per port, so that `stop` finds what `start` made.
BASE_DIR="${TMPDIR:-/tmp}/medimg-pg-${PORT}"
DATA_DIR="$BASE_DIR/data"
LOG_FILE="$BASE_DIR/server.log"
DB_USER=medimg
DB_PASSWORD=medimg
DB_NAME=medimg_test
URL="postgresql+psycopg://${DB_USER}:${DB_PASSWORD}@127.0.0.1:${PORT}/${DB_NAME}"

die() { echo "postgres-test-server: $*" >&2; exit 1; }

find_bindir() {
  if [[ -n "${PG_BINDIR:-}" ]]; then echo "$PG_BINDIR"; return; fi
  # Debian keeps initdb/pg_ctl out of PATH, under /usr/lib/postgresql/<major>/bin.
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -z "$dir" ]] && command -v pg_ctl >/dev/null; then dir="$(dirname "$(command -v pg_ctl)")"; fi
  [[ -n "$dir" && -x "$dir/initdb" ]] || die "no PostgreSQL server binaries found (apt-get install postgresql, or set PG_BINDIR)"
  echo "$dir"
}

# initdb/postgres refuse to run as root: as root, run them as the `postgres` user.
as_owner() {
  if [[ "$(id -u)" -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")  # cd: postgres may not be allowed into $PWD
  else
    "$@"
  fi
}

is_running() { [[ -d "$DATA_DIR" ]] && as_owner "$BIN/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1; }

start() {
  if is_running; then
    echo "postgres-test-server: already running on 127.0.0.1:$PORT" >&2
    echo "$URL"
    return
  fi
  rm -rf "$BASE_DIR"
  if [[ "$(id -u)" -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user"
    install -d -m 700 -o postgres -g postgres "$BASE_DIR"
  else
    install -d -m 700 "$BASE_DIR"
  fi

  # Socket connections are trusted (only used below to create the role); TCP needs a password,
  # like the real deployment.
  as_owner "$BIN/initdb" -D "$DATA_DIR" -U postgres -E UTF8 --no-locale \
    --auth-local=trust --auth-host=scram-sha-256 >"$BASE_DIR/initdb.log" 2>&1 \
    || { cat "$BASE_DIR/initdb.log" >&2; die "initdb failed"; }

  as_owner "$BIN/pg_ctl" -D "$DATA_DIR" -l "$LOG_FILE" -w -t 60 \
    -o "-k $SOCKET_DIR -h 127.0.0.1 -p $PORT -c max_connections=400" start >/dev/null \
    || { tail -n 20 "$LOG_FILE" >&2 || true; die "server did not start (port $PORT in use?)"; }

  as_owner "$BIN/psql" -h "$SOCKET_DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
    -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASSWORD'" \
    -c "CREATE DATABASE $DB_NAME OWNER $DB_USER"

  echo "postgres-test-server: running on 127.0.0.1:$PORT (data in $DATA_DIR)" >&2
  echo "$URL"
}

stop() {
  if is_running; then
    as_owner "$BIN/pg_ctl" -D "$DATA_DIR" -m fast -w stop >/dev/null
    echo "postgres-test-server: stopped" >&2
  fi
  rm -rf "$BASE_DIR"
}

case "${1:-}" in
  start)  BIN="$(find_bindir)"; start ;;
  stop)   BIN="$(find_bindir)"; stop ;;
  status) BIN="$(find_bindir)"; if is_running; then echo running; else echo stopped; exit 3; fi ;;
  url)    echo "$URL" ;;
  *)      echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
