#!/usr/bin/env bash
# Throwaway Orthanc PACS with its DICOMweb plugin, for the interop tests (used by .ci/run).
#
#   scripts/orthanc-test-server.sh start   # start on loopback, print the DICOMweb URL
#   scripts/orthanc-test-server.sh stop    # stop it and delete its storage
#   scripts/orthanc-test-server.sh status
#   scripts/orthanc-test-server.sh url     # the MEDIMG_TEST_ORTHANC_URL value
#
# HTTP answers 127.0.0.1 only, with basic authentication (user medimg, password medimg).
# DICOM: Orthanc has no setting for the address of its DICOM port (it listens on every
# interface, up to 1.12 at least), so it admits only the one modality it lists, checked by
# AE title *and* address: medimg's listener (AE MEDIMG) on 127.0.0.1, port
# MEDIMG_TEST_LISTENER_PORT (11113, not the 11112 of `make run`, so both can run). Any other
# host, or another AE title, is refused, C-ECHO included; Orthanc sends to medimg with
# POST /modalities/medimg/store. It keeps its database in a temp dir. Needs Debian's `orthanc`
# and `orthanc-dicomweb` packages; the system service is never used, so its port 8042 is free.
set -euo pipefail

HTTP_PORT="${MEDIMG_TEST_ORTHANC_HTTP_PORT:-8043}"
DICOM_PORT="${MEDIMG_TEST_ORTHANC_DICOM_PORT:-4243}"
LISTENER_PORT="${MEDIMG_TEST_LISTENER_PORT:-11113}"
USERNAME=medimg
PASSWORD=medimg
# Fixed per port, so that `stop` finds what `start` made.
BASE_DIR="${TMPDIR:-/tmp}/medimg-orthanc-${HTTP_PORT}"
PID_FILE="$BASE_DIR/orthanc.pid"
LOG_FILE="$BASE_DIR/orthanc.log"
URL="http://${USERNAME}:${PASSWORD}@127.0.0.1:${HTTP_PORT}/dicom-web"

die() { echo "orthanc-test-server: $*" >&2; exit 1; }

find_plugin() {
  local plugin="${ORTHANC_DICOMWEB_PLUGIN:-/usr/share/orthanc/plugins/libOrthancDicomWeb.so}"
  [[ -e "$plugin" ]] || die "no DICOMweb plugin at $plugin (apt-get install orthanc-dicomweb)"
  echo "$plugin"
}

is_running() { [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

write_config() {
  cat >"$BASE_DIR/orthanc.json" <<EOF
{
  "Name": "MEDIMG-TEST",
  "StorageDirectory": "$BASE_DIR/storage",
  "IndexDirectory": "$BASE_DIR/storage",
  "HttpPort": $HTTP_PORT,
  "DicomPort": $DICOM_PORT,
  "DicomAet": "MEDIMGTEST",
  "DicomCheckCalledAet": true,
  "DicomAlwaysAllowEcho": false,
  "DicomAlwaysAllowStore": false,
  "DicomCheckModalityHost": true,
  "DicomModalities": {
    "medimg": {
      "AET": "MEDIMG", "Host": "127.0.0.1", "Port": $LISTENER_PORT, "Timeout": 120,
      "AllowEcho": true, "AllowStore": true, "AllowFind": false, "AllowFindWorklist": false,
      "AllowGet": false, "AllowMove": false, "AllowStorageCommitment": false
    }
  },
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": true,
  "RegisteredUsers": { "$USERNAME": "$PASSWORD" },
  "Plugins": ["$(find_plugin)"],
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/", "Host": "127.0.0.1:$HTTP_PORT" }
}
EOF
}

wait_until_answering() {
  local attempt
  for attempt in $(seq 1 60); do
    # Orthanc opens its HTTP port only once its plugins are loaded. Bash's /dev/tcp: no curl.
    if (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null; then
      return
    fi
    is_running || { tail -n 20 "$LOG_FILE" >&2 || true; die "Orthanc exited (port in use?)"; }
    sleep 0.5
  done
  die "Orthanc did not answer on 127.0.0.1:$HTTP_PORT within 30 s"
}

start() {
  command -v Orthanc >/dev/null || die "no Orthanc binary (apt-get install orthanc)"
  if is_running; then
    echo "orthanc-test-server: already running on 127.0.0.1:$HTTP_PORT" >&2
    echo "$URL"
    return
  fi
  rm -rf "$BASE_DIR"
  mkdir -p "$BASE_DIR/storage"
  write_config
  Orthanc "$BASE_DIR/orthanc.json" >"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  wait_until_answering
  echo "orthanc-test-server: running on 127.0.0.1:$HTTP_PORT (data in $BASE_DIR)" >&2
  echo "$URL"
}

stop() {
  if is_running; then
    kill "$(cat "$PID_FILE")"
    local attempt
    for attempt in $(seq 1 20); do is_running || break; sleep 0.5; done
    echo "orthanc-test-server: stopped" >&2
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
