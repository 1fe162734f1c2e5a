#!/usr/bin/env bash
# One node and two nodes on one PostgreSQL database, under the same SSE fan-out scenario,
# alternately, a fresh database per run; then a rate sweep on two nodes. Subscribers and
# publishers are spread over the nodes, so about half of the deliveries cross from one node
# to the other (through the event log and NOTIFY).
#
#   benches/two-nodes.sh --bin-dir DIR     # prebuilt causerie and causerie-bench (release)
#   options: --runs N (3)  --duration SECONDS (15)  --pg URL  --out DIR  --rates "500 1000 2000"
#
# Results: DIR/results.jsonl (one JSON line per run, with `pg_cpu_us_per_message`: the CPU
# time of PostgreSQL's processes over the publishing phase per message published).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=3
DURATION=15
PG="postgres://postgres@127.0.0.1:5432/test"
BIN=""
OUT=""
RATES="500 1000 2000 4000"
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS="$2"; shift ;;
        --duration) DURATION="$2"; shift ;;
        --pg) PG="$2"; shift ;;
        --bin-dir) BIN="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        --rates) RATES="$2"; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
    shift
done
if [ -z "$BIN" ]; then
    cargo build --release --locked --bin causerie --bin causerie-bench
    BIN="${CARGO_TARGET_DIR:-target}/release"
fi
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# CPU seconds of every PostgreSQL process now (the pooled connections live through a run).
pg_cpu() {
    local tick total=0 pid
    tick=$(getconf CLK_TCK)
    for pid in $(pgrep -x postgres || true); do
        [ -r "/proc/$pid/stat" ] || continue
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "scale=3; $total / $tick" | bc
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run NODES LABEL SUBSCRIBERS ROOMS RATE
run() {
    local nodes=$1 label=$2 subs=$3 rooms=$4 rate=$5
    local db="causerie_bench_$$_$RANDOM" prefix="${PG%/*}" pids=() bases=() work
    work=$(mktemp -d)
    psql -q "$PG" -c "CREATE DATABASE $db" >/dev/null
    local url="$prefix/$db"
    CAUSERIE_DATABASE_URL="$url" "$BIN/causerie" migrate >/dev/null 2>&1
    for n in $(seq 1 "$nodes"); do
        local port
        port=$(free_port)
        CAUSERIE_DATABASE_URL="$url" CAUSERIE_BIND="127.0.0.1:$port" CAUSERIE_ADMIN_PASSWORD=bench-admin-secret \
            CAUSERIE_UPLOADS_DIR="$work/uploads" CAUSERIE_RATE_LIMIT_PER_MINUTE=0 CAUSERIE_ACTIONS_PER_MINUTE=0 \
            CAUSERIE_STREAMS_PER_USER=100000 CAUSERIE_LOG_LEVEL=warn CAUSERIE_SHUTDOWN_TIMEOUT_SECONDS=1 \
            "$BIN/causerie" serve >"$work/node$n.log" 2>&1 &
        pids+=("$!")
        bases+=("http://127.0.0.1:$port")
        for _ in $(seq 1 100); do curl -fs "${bases[-1]}/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    done
    local token
    token=$(CAUSERIE_DATABASE_URL="$url" "$BIN/causerie" token create admin 2>/dev/null)
    local args=(--url "${bases[0]}" --token "$token" -n "$subs" -r "$rooms" --rate "$rate"
        --duration "$DURATION" --publishers 16 --name "causerie-${nodes}node" --label "$label")
    for b in "${bases[@]}"; do args+=(--sub-base "$b" --pub-base "$b"); done
    for p in "${pids[@]}"; do args+=(--server-pid "$p"); done
    local before after line
    before=$(pg_cpu)
    line=$("$BIN/causerie-bench" fanout "${args[@]}" 2>"$work/bench.err" | tail -1) || true
    after=$(pg_cpu)
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    psql -q "$PG" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
    if [ -z "$line" ] || [ "${line:0:1}" != "{" ]; then
        log "run $label on $nodes node(s) failed: $(tail -3 "$work/bench.err")"
        return
    fi
    python3 - "$line" "$before" "$after" >>"$OUT/results.jsonl" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
published = max(r["messages_published"], 1)
r["pg_cpu_us_per_message"] = (float(sys.argv[3]) - float(sys.argv[2])) * 1e6 / published
print(json.dumps(r))
EOF
    rm -rf "$work"
    log "$label, $nodes node(s): done"
}

log "results in $OUT"
for i in $(seq 1 "$RUNS"); do
    run 1 "2000 subs, 100 rooms, 200 msg/s" 2000 100 200
    run 2 "2000 subs, 100 rooms, 200 msg/s" 2000 100 200
done
for rate in $RATES; do
    run 2 "sweep: 1000 subs, 100 rooms, $rate msg/s" 1000 100 "$rate"
done

python3 - "$OUT/results.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(xs): return statistics.median(xs) if xs else float("nan")
print("| scenario | nodes | runs | p50 ms | p99 ms | cross-node p50 / p99 ms | server CPU µs/delivery (all nodes) | PostgreSQL CPU µs/message | missing | duplicated | out of order |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
groups = {}
for r in rows:
    groups.setdefault((r["label"], r["name"]), []).append(r)
for (label, name), rs in groups.items():
    cross = [r["latency_ms_cross_node"] for r in rs if r.get("latency_ms_cross_node")]
    cross_text = f'{med([c["p50"] for c in cross]):.2f} / {med([c["p99"] for c in cross]):.2f}' if cross else "-"
    print(f'| {label} | {name[-5]} | {len(rs)} | {med([r["latency_ms"]["p50"] for r in rs]):.2f} | '
          f'{med([r["latency_ms"]["p99"] for r in rs]):.2f} | {cross_text} | '
          f'{med([r["server"]["cpu_us_per_delivery"] for r in rs]):.2f} | '
          f'{med([r["pg_cpu_us_per_message"] for r in rs]):.0f} | '
          f'{sum(r["deliveries"]["missing"] for r in rs)} | {sum(r["deliveries"]["duplicated"] for r in rs)} | '
          f'{sum(r["deliveries"]["out_of_order"] for r in rs)} |')
EOF
