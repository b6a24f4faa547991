#!/usr/bin/env bash
# Throwaway Redis server for the job-queue tests (used by .ci/run; handy locally too).
#
#   scripts/redis-test-server.sh start   # start on loopback, print the URL
#   scripts/redis-test-server.sh stop    # stop it and delete its directory
#   scripts/redis-test-server.sh status
#   scripts/redis-test-server.sh url     # the MEDIMG_TEST_REDIS_URL value
#
# It listens on 127.0.0.1 only, with a password (medimg), like a real deployment, keeps
# nothing on disk (no snapshots, no append-only file) and lives in a temp dir. Needs Debian's
# `redis-server` package; the system service is never used, so its port 6379 stays free.
set -euo pipefail

PORT="${MEDIMG_TEST_REDIS_PORT:-63790}"
PASSWORD=medimg
# Fixed per port, so that `stop` finds what `start` made.
BASE_DIR="${TMPDIR:-/tmp}/medimg-redis-${PORT}"
PID_FILE="$BASE_DIR/redis.pid"
LOG_FILE="$BASE_DIR/redis.log"
URL="redis://:${PASSWORD}@127.0.0.1:${PORT}/0"

die() { echo "redis-test-server: $*" >&2; exit 1; }

is_running() { [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

answers() { REDISCLI_AUTH="$PASSWORD" redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null | grep -q PONG; }

start() {
  command -v redis-server >/dev/null || die "no redis-server binary (apt-get install redis-server)"
  if is_running; then
    echo "redis-test-server: already running on 127.0.0.1:$PORT" >&2
    echo "$URL"
    return
  fi
  rm -rf "$BASE_DIR"
  install -d -m 700 "$BASE_DIR"
  # The password goes in a file only the owner reads, not on the command line.
  printf 'requirepass %s\n' "$PASSWORD" >"$BASE_DIR/redis.conf"
  chmod 600 "$BASE_DIR/redis.conf"
  redis-server "$BASE_DIR/redis.conf" --bind 127.0.0.1 --port "$PORT" --protected-mode yes \
    --dir "$BASE_DIR" --save "" --appendonly no --daemonize yes \
    --pidfile "$PID_FILE" --logfile "$LOG_FILE" \
    || die "redis-server did not start"
  local attempt
  for attempt in $(seq 1 60); do
    if answers; then
      echo "redis-test-server: running on 127.0.0.1:$PORT (files in $BASE_DIR)" >&2
      echo "$URL"
      return
    fi
    sleep 0.5
  done
  tail -n 20 "$LOG_FILE" >&2 || true
  die "Redis did not answer on 127.0.0.1:$PORT within 30 s (port in use?)"
}

stop() {
  if is_running; then
    kill "$(cat "$PID_FILE")"
    local attempt
    for attempt in $(seq 1 20); do is_running || break; sleep 0.5; done
    echo "redis-test-server: stopped" >&2
  fi
  rm -rf "$BASE_DIR"
}

case "${1:-}" in
  start)  start ;;
  stop)   stop ;;
  status) if is_running; then echo running; else echo stopped; exit 3; fi ;;
  url)    echo "$URL" ;;
  *)      echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
