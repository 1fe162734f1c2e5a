#!/usr/bin/env bash
# What a real connect storm costs the server, per stream opened: a release `causerie` on a
# free loopback port with a fresh temporary SQLite database holding USERS users, each with an
# API token and in two groups of GROUP (as benches/presence_storm.rs), then USERS all-rooms
# streams opened with `Authorization: Bearer` (CONCURRENCY at once up to each stream's first
# bytes), kept open and read; the server's CPU (utime + stime, /proc/PID/stat) from just
# before the first connect until SETTLE seconds after the last stream opened, per stream.
#
#   benches/connect-storm.sh with=BIN                       # one run
#   benches/connect-storm.sh --runs 3 with=BIN_A without=BIN_B
#
# Several binaries run alternately (A, B, A, B, ...), each run on a fresh server and a fresh
# copy of the seeded database; the summary gives each label's median and the ratio of the
# first label's median to the second's. "Without presence" is a build of the same source with
# the announcer not started (see benches/README.md, "Presence in a connect storm").
# Environment: USERS (10000), GROUP (20), CONCURRENCY (200), SETTLE (2 seconds), RATE (streams
# started per second; 0, the default, starts them as fast as the server takes them), OUT (a
# temporary folder; results.jsonl and the servers' logs go there), CALLGRIND=1 (the servers run
# under `valgrind --tool=callgrind`, counts zeroed before the storm and dumped after SETTLE into
# OUT/callgrind.LABEL-RUN.*; compare their "summary" lines).
set -euo pipefail

USERS=${USERS:-10000}
GROUP=${GROUP:-20}
CONCURRENCY=${CONCURRENCY:-200}
SETTLE=${SETTLE:-2}
RUNS=1
if [ "${1:-}" = "--runs" ]; then
    RUNS=$2
    shift 2
fi
[ $# -ge 1 ] || { sed -n '2,17p' "$0"; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
client="$here/connect_storm.py"

ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((USERS + 500)) ] || { echo "open-file limit $(ulimit -n) too low for $USERS streams" >&2; exit 1; }

work=$(mktemp -d /var/tmp/connect-storm.XXXXXX)
OUT=${OUT:-$work/out}
mkdir -p "$OUT"
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work/run" "$work/seed.db"
    rmdir "$work" 2>/dev/null || true
}
trap cleanup EXIT

# The seeded database, made once: migrations by the first binary, rows by sqlite3.
first_bin=${1#*=}
"$first_bin" --database "sqlite://$work/seed.db" migrate >"$OUT/migrate.log" 2>&1
python3 "$client" seed "$work/seed.db" "$USERS" "$GROUP"
echo "seeded $USERS users, $((2 * USERS / GROUP)) rooms of $GROUP in $work/seed.db" >&2

run() {
    local label=$1 bin=$2 n=$3
    rm -rf "$work/run"
    mkdir -p "$work/run/uploads"
    cp "$work/seed.db" "$work/run/causerie.db"
    local port wrap=()
    if [ "${CALLGRIND:-}" = 1 ]; then
        wrap=(valgrind --tool=callgrind --separate-threads=no "--callgrind-out-file=$OUT/callgrind.$label-$n.%p")
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Pings every 10 minutes: the storm's cost, not the keep-alives of the streams it opened.
    env CAUSERIE_BIND=127.0.0.1:$port CAUSERIE_DATABASE_URL="sqlite://$work/run/causerie.db" \
        CAUSERIE_UPLOADS_DIR="$work/run/uploads" CAUSERIE_MAX_STREAMS=$((USERS * 2)) \
        CAUSERIE_SSE_PING_SECONDS=600 CAUSERIE_LOG_LEVEL=warn \
        ${wrap[@]+"${wrap[@]}"} "$bin" serve >"$OUT/server-$label-$n.log" 2>&1 &
    pid=$!
    for _ in $(seq 1800); do
        curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    sleep 1
    local line
    line=$(CONNECT_STORM_CALLGRIND=${CALLGRIND:-} python3 "$client" storm "$port" "$pid" "$USERS" "$CONCURRENCY" "$SETTLE" "${RATE:-0}")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    line=$(python3 -c 'import json, sys; r = json.loads(sys.argv[1]); r.update(label=sys.argv[2], run=int(sys.argv[3]), load=open("/proc/loadavg").read().split()[0]); print(json.dumps(r))' "$line" "$label" "$n")
    echo "$line" | tee -a "$OUT/results.jsonl"
}

for n in $(seq "$RUNS"); do
    for spec in "$@"; do
        run "${spec%%=*}" "${spec#*=}" "$n"
    done
done

python3 - "$OUT/results.jsonl" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
labels = list(dict.fromkeys(r["label"] for r in runs))
medians = {}
print("| binary | runs | CPU µs per stream opened (median) | each run | storm s (median) | presence events read (median) | streams opened |")
print("|---|---|---|---|---|---|---|")
for label in labels:
    mine = [r for r in runs if r["label"] == label]
    per = [r["cpu_us_per_stream"] for r in mine]
    medians[label] = statistics.median(per)
    print("| %s | %d | %.1f | %s | %.2f | %d | %s |" % (
        label, len(mine), medians[label], ", ".join("%.1f" % p for p in per),
        statistics.median(r["storm_s"] for r in mine),
        statistics.median(r["presence_events"] for r in mine),
        ", ".join(str(r["opened"]) for r in mine)))
if len(labels) >= 2:
    a, b = labels[0], labels[1]
    print("\n%s / %s: %.2f" % (a, b, medians[a] / medians[b]))
EOF
