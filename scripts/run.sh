#!/usr/bin/env bash
# Local development: the API (uvicorn, app factory) with its DICOM listener, and the static
# SPA, started and stopped together. Used by `make run`; Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY="${PYTHON:-.venv/bin/python}"
API_HOST="${MEDIMG_API_HOST:-127.0.0.1}"
API_PORT="${MEDIMG_API_PORT:-8000}"
SPA_HOST=127.0.0.1
SPA_PORT="${MEDIMG_SPA_PORT:-8080}"
DEMO_KEY_FILE=var/demo-radiologist.key

# A setting as the API will read it: the environment first, then .env, then `default`.
setting() {
  local name="MEDIMG_$1" default="$2" line
  if [[ -n "${!name:-}" ]]; then
    echo "${!name}"
    return
  fi
  line="$(grep -s "^$name=" .env | tail -n 1 || true)"
  echo "${line#*=}" | tr -d "\"'" | grep . || echo "$default"
}

# The DICOM listener runs inside the API process (why: api/interop/listener.py), so Ctrl-C
# stops it with the API. `make run` turns it on unless the environment or .env says otherwise
# (exporting it regardless would override .env).
if [[ -z "$(setting DICOM_ENABLED "")" ]]; then
  export MEDIMG_DICOM_ENABLED=true
fi

# MEDIMG_BOOTSTRAP_ADMIN_KEY (environment or .env) applies only while the database holds no
# key: it goes in first, before the demo key below would make it too late.
"$PY" -m api.keys bootstrap

# A local radiologist key, made once, so the SPA can be signed into at once. The database
# keeps only its hash; the key itself stays in var/ (git-ignored), readable by you alone.
if [[ ! -s "$DEMO_KEY_FILE" ]]; then
  mkdir -p var
  (umask 077 && "$PY" -m api.keys create --name "demo radiologist" --role radiologist \
    >"$DEMO_KEY_FILE.tmp")
  mv "$DEMO_KEY_FILE.tmp" "$DEMO_KEY_FILE"
fi
DEMO_KEY="$(<"$DEMO_KEY_FILE")"

pids=()
stop_all() {
  trap - EXIT INT TERM
  if ((${#pids[@]})); then
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap stop_all EXIT
# Background jobs of a script ignore Ctrl-C, so the trap forwards it as SIGTERM.
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

# `python -m api` is uvicorn with the app factory, refusing a network-facing address that no
# API key could use.
MEDIMG_API_HOST="$API_HOST" MEDIMG_API_PORT="$API_PORT" "$PY" -m api &
pids+=($!)
"$PY" -m http.server "$SPA_PORT" --bind "$SPA_HOST" --directory frontend &
pids+=($!)

DICOM_LINE="off (MEDIMG_DICOM_ENABLED=$(setting DICOM_ENABLED ""))"
if [[ "$(setting DICOM_ENABLED "" | tr '[:upper:]' '[:lower:]')" =~ ^(true|1|yes|on)$ ]]; then
  DICOM_LINE="AE $(setting DICOM_AE_TITLE MEDIMG) on $(setting DICOM_HOST 127.0.0.1):$(setting DICOM_PORT 11112)"
fi

cat <<MSG
medimg is starting:
  SPA       http://$SPA_HOST:$SPA_PORT/
  API       http://$API_HOST:$API_PORT/
  API docs  http://$API_HOST:$API_PORT/docs
  DICOM     $DICOM_LINE
(the SPA calls the API URL set in frontend/config.js; Ctrl-C stops everything)

Sign in to the SPA with the demo radiologist API key:
  $DEMO_KEY
(kept in $DEMO_KEY_FILE; delete that file to get a new key at the next start,
 and revoke the old one with \`$PY -m api.keys revoke ID\`)
MSG

# Whichever server exits first (crash, port in use) takes the other one down with it.
wait -n
