#!/usr/bin/env bash
# Two `causerie serve` nodes on one PostgreSQL database behind real nginx, configured by
# deploy/nginx.conf; and deploy/causerie.service checked by `systemd-analyze verify`.
# Checks, all through nginx: a stream; a 30 MB upload (and its download); a rolling restart
# (SIGTERM node A, start it again, then node B) while messages are sent, during which a client
# that reconnects by id the way EventSource does gets every acknowledged message exactly once.
#
#   CAUSERIE_BIN     the binary (default: $CARGO_TARGET_DIR/debug/causerie, built if missing)
#   CLUSTER_PG_URL   a PostgreSQL database to create the run's own database from
#                    (default postgres://postgres@127.0.0.1:5432/test; dropped at the end)
#   CLUSTER_ONE_NODE=1  both upstreams point at node A (checks nginx, the client and a restart
#                    without relying on delivery between nodes)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/causerie-ci-target}"
bin="${CAUSERIE_BIN:-$CARGO_TARGET_DIR/debug/causerie}"
pg_url="${CLUSTER_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
one_node="${CLUSTER_ONE_NODE:-0}"

say() { echo "cluster: $*"; }
fail() { echo "cluster: FAILED: $*" >&2; keep=1; exit 1; }

need_apt=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
if [ ! -x "$bin" ]; then
  say "building $bin"
  cargo build --locked --bin causerie
fi

work="$(mktemp -d)"
chmod 755 "$work"   # nginx workers (nobody) write their temporary files under it
db="causerie_cluster_$$"
prefix="${pg_url%/*}"
db_url="$prefix/$db"
pids=()
cleanup() {
  set +e
  [ -f "$work/nginx/nginx.pid" ] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  psql -q "$pg_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  if [ "${keep:-0}" = 1 ]; then say "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'keep=1' ERR

# --- the systemd unit -------------------------------------------------------------------
sed "s#^ExecStart=/usr/local/bin/causerie #ExecStart=$bin #" deploy/causerie.service >"$work/causerie.service"
say "systemd-analyze verify deploy/causerie.service"
out="$(systemd-analyze verify "$work/causerie.service" 2>&1)" || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"

# --- the database and two nodes ----------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_a="$(free_port)"; port_b="$(free_port)"; port_n="$(free_port)"
psql -q "$pg_url" -c "CREATE DATABASE $db" >/dev/null
export CAUSERIE_DATABASE_URL="$db_url"
export CAUSERIE_UPLOADS_DIR="$work/uploads"   # the folder every node shares
export CAUSERIE_ADMIN_PASSWORD="cluster-admin-password"
export CAUSERIE_TRUSTED_PROXIES=127.0.0.1
export CAUSERIE_LOG_LEVEL=info
export CAUSERIE_MAX_FILE_BYTES=$((40 * 1024 * 1024))   # 25 MiB a file by default
"$bin" migrate 2>>"$work/migrate.log"

declare -A node_pid node_port=([a]="$port_a" [b]="$port_b")
start_node() {
  CAUSERIE_BIND="127.0.0.1:${node_port[$1]}" "$bin" serve >>"$work/node-$1.log" 2>&1 &
  node_pid[$1]=$!
  pids+=("$!")
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:${node_port[$1]}/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "node $1 did not become ready (log: $(tail -5 "$work/node-$1.log"))"
}
stop_node() {
  kill -TERM "${node_pid[$1]}"
  local status=0
  wait "${node_pid[$1]}" || status=$?
  [ "$status" = 0 ] || fail "node $1 exited with $status after SIGTERM"
}
start_node a
start_node b
say "nodes on :$port_a and :$port_b, database $db"

# --- nginx with deploy/nginx.conf --------------------------------------------------------
upstream_b="$port_b"
[ "$one_node" = 1 ] && upstream_b="$port_a"
mkdir -p "$work/nginx/logs"
sed -e "s#server 127.0.0.1:8081 #server 127.0.0.1:$port_a #" \
    -e "s#server 127.0.0.1:8082 #server 127.0.0.1:$upstream_b #" \
    -e "s#listen 80;#listen 127.0.0.1:$port_n;#" deploy/nginx.conf >"$work/nginx/causerie.conf"
grep -q "127.0.0.1:$port_a " "$work/nginx/causerie.conf" && grep -q "listen 127.0.0.1:$port_n;" "$work/nginx/causerie.conf" \
  || fail "deploy/nginx.conf no longer has the upstream and listen lines this script rewrites"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log $work/nginx/logs/access.log;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    include $work/nginx/causerie.conf;
}
CONF
"$nginx_bin" -t -q -p "$work/nginx" -c "$work/nginx/nginx.conf" || fail "nginx -t on deploy/nginx.conf"
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf"
front="http://127.0.0.1:$port_n"
say "nginx on :$port_n (upstreams :$port_a and :$upstream_b)"

token="$("$bin" token create admin 2>>"$work/migrate.log")"
auth=(-H "Authorization: Bearer $token")
room="$(curl -fsS "${auth[@]}" -H 'Content-Type: application/json' \
  -d '{"room_type":"group","name":"Cluster","member_ids":[]}' "$front/chat/api/rooms" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"

# --- a stream through nginx ----------------------------------------------------------------
say "a stream through nginx"
curl -sN --max-time 6 "${auth[@]}" -D "$work/stream.head" "$front/chat/api/stream?room_id=$room" >"$work/stream.body" &
curl_pid=$!
sleep 1
curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d "{\"room_id\":$room,\"content\":\"through nginx\"}" \
  "$front/chat/api/messages" >/dev/null
wait "$curl_pid" || true
grep -qi '^content-type: text/event-stream' "$work/stream.head" || fail "stream head: $(cat "$work/stream.head")"
grep -q 'through nginx' "$work/stream.body" || fail "the message did not come through the stream: $(cat "$work/stream.body")"

# --- a 30 MB upload through nginx ----------------------------------------------------------
say "a 30 MB upload through nginx"
# Text (a kind the server accepts) made of random bytes: 30 MB that compress badly.
head -c $((30 * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 -w 76 >"$work/big.txt"
answer="$(curl -sS -w '\n%{http_code}' "${auth[@]}" -F "room_id=$room" -F content=big -F "files=@$work/big.txt" \
  "$front/chat/api/messages")"
[ "$(tail -1 <<<"$answer")" = 201 ] || fail "upload: $answer"
attachment="$(head -n -1 <<<"$answer" | python3 -c 'import json,sys; print(json.load(sys.stdin)["attachments"][0]["id"])')"
curl -fsS "${auth[@]}" -o "$work/big.back" "$front/chat/api/attachments/$attachment"
cmp -s "$work/big.txt" "$work/big.back" || fail "the file downloaded through nginx differs from the one uploaded"

# --- a rolling restart ---------------------------------------------------------------------
say "a rolling restart while 300 messages are sent"
client=".ci/cluster_client.py"
python3 "$client" stream 127.0.0.1 "$port_n" "$token" "$room" "$work/seen" "$work/stop" 3 &
stream_pid=$!
pids+=("$stream_pid")
sleep 1
python3 "$client" send 127.0.0.1 "$port_n" "$token" "$room" 300 20 "$work/sent" &
send_pid=$!
pids+=("$send_pid")
sleep 3
stop_node a
start_node a
sleep 3
if [ "$one_node" != 1 ]; then
  stop_node b
  start_node b
fi
wait "$send_pid" || fail "the sender failed"
touch "$work/stop"
wait "$stream_pid" || fail "the stream client failed"

python3 - "$work/sent" "$work/seen" <<'PY' || fail "the rolling restart lost or repeated events (logs: $work)"
import sys
sent = [int(l.split()[1]) for l in open(sys.argv[1]) if not l.startswith("#")]
ids, messages = [], []
for line in open(sys.argv[2]):
    if line.startswith("#"):
        print("cluster:", line[2:].strip())
        continue
    event_id, kind, message = line.split()
    ids.append(int(event_id))
    if kind == "new_message":
        messages.append(int(message))
problems = []
if any(b <= a for a, b in zip(ids, ids[1:])):
    problems.append("event ids not strictly increasing (a duplicate or a reorder)")
if len(set(messages)) != len(messages):
    problems.append("a message came twice")
missing = sorted(set(sent) - set(messages))
if missing:
    problems.append("%d acknowledged messages never came, e.g. %s" % (len(missing), missing[:5]))
if len(sent) < 200:
    problems.append("only %d of 300 messages were acknowledged" % len(sent))
print("cluster: %d messages acknowledged, %d received, %d events in id order" % (len(sent), len(messages), len(ids)))
if problems:
    print("cluster: " + "; ".join(problems))
    sys.exit(1)
PY
say "all checks passed"
