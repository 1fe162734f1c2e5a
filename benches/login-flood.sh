#!/usr/bin/env bash
# What strangers cost a running server: `GET /chat/api/rooms` latency while 64 bad logins
# run in parallel, the memory 30 logins with 250 KB usernames leave behind, and the size of
# /metrics after requests with invented methods. Starts the given binary on a free loopback
# port with a temporary SQLite database; needs curl and python3.
#
#   benches/login-flood.sh BINARY [--requests N] [--samples N]
#
# The limits are raised so that every bad login reaches the password check (the cost being
# measured); a run with the default limits shows what they leave of a flood from one address.
set -euo pipefail

BIN=${1:?usage: login-flood.sh BINARY [--requests N] [--samples N]}
shift
REQUESTS=1000
SAMPLES=20
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) REQUESTS=$2; shift 2 ;;
    --samples) SAMPLES=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

DIR=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT

start() { # start [ENV=VALUE ...]
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  URL="http://127.0.0.1:$PORT"
  rm -rf "$DIR/db" && mkdir -p "$DIR/db"
  env CAUSERIE_BIND="127.0.0.1:$PORT" CAUSERIE_DATABASE_URL="sqlite://$DIR/db/c.db" \
    CAUSERIE_UPLOADS_DIR="$DIR/db/uploads" CAUSERIE_ADMIN_PASSWORD=bench-password-1 \
    CAUSERIE_LOG_LEVEL=warn "$@" "$BIN" serve >"$DIR/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && return; sleep 0.1; done
  echo "the server did not start" >&2; cat "$DIR/server.log" >&2; exit 1
}

stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

sign_in() {
  curl -sf -c "$DIR/jar" -H 'content-type: application/json' \
    -d '{"username":"admin","password":"bench-password-1"}' "$URL/chat/api/auth/login" >/dev/null
}

# SAMPLES sequential GET /rooms on one connection: median, p90 and max in ms.
rooms_latency() {
  local args=()
  for _ in $(seq "$SAMPLES"); do args+=(-o /dev/null "$URL/chat/api/rooms"); done
  curl -s -b "$DIR/jar" -w '%{time_total}\n' "${args[@]}" | python3 -c '
import sys
t = sorted(float(x) * 1000 for x in sys.stdin if x.strip())
q = lambda p: t[min(len(t) - 1, int(p * len(t)))]
print(f"median {q(0.5):.1f} ms, p90 {q(0.9):.1f} ms, max {t[-1]:.1f} ms ({len(t)} requests)")'
}

# REQUESTS bad logins for unknown usernames, 64 at a time, in one curl process; the
# latency samples are taken while it runs, and it is let finish.
flood() {
  : >"$DIR/flood.cfg"
  for i in $(seq "$REQUESTS"); do
    printf 'url = "%s/chat/api/auth/login"\noutput = "/dev/null"\nheader = "content-type: application/json"\ndata = "{\\"username\\":\\"nobody%d\\",\\"password\\":\\"wrong-password\\"}"\nwrite-out = "%%{http_code}\\n"\nnext\n' \
      "$URL" "$i" >>"$DIR/flood.cfg"
  done
  curl -s --no-progress-meter -Z --parallel-max 64 -K "$DIR/flood.cfg" >"$DIR/codes" 2>/dev/null &
  FLOOD=$!
}

latency_under_flood() { # label, env...
  local label=$1; shift
  start "$@"
  sign_in
  echo "$label"
  echo "  idle:              $(rooms_latency)"
  flood
  sleep 1
  echo "  64 bad logins:     $(rooms_latency)"
  wait "$FLOOD" || true
  echo "  login answers:     $(sort "$DIR/codes" | uniq -c | awk '{printf "%s x %s  ", $2, $1}')"
  stop
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }

echo "binary: $BIN"
latency_under_flood "limits raised (every bad login is checked):" \
  CAUSERIE_LOGIN_ATTEMPTS_PER_MINUTE=1000000 CAUSERIE_LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE=1000000
latency_under_flood "default limits:"

start
python3 -c 'print("{\"username\":\"" + "u" * 250000 + "\",\"password\":\"wrong-password\"}")' >"$DIR/long.json"
before=$(rss_kb)
for i in $(seq 30); do
  sed "s/^{\"username\":\"/{\"username\":\"$i/" "$DIR/long.json" |
    curl -s -o /dev/null -H 'content-type: application/json' --data-binary @- "$URL/chat/api/auth/login"
done
echo "30 logins with 250 KB usernames: RSS $before kB -> $(rss_kb) kB"
size_before=$(curl -s "$URL/metrics" | wc -c)
for i in $(seq 200); do curl -s -o /dev/null -X "ZZPROBE$i" "$URL/healthz"; done
curl -s -o /dev/null -X "$(python3 -c 'print("Z" * 20000)')" "$URL/healthz" || true
echo "/metrics after 200 invented methods and one of 20,000 characters: $size_before -> $(curl -s "$URL/metrics" | wc -c) bytes"
stop
