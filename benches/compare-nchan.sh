#!/usr/bin/env bash
# Side by side: causerie and nginx + nchan (1 worker) under the same SSE fan-out scenarios,
# alternately, a fresh server per run; prints medians and causerie/nchan ratios.
#
#   benches/compare-nchan.sh            # 3 runs per scenario and system, full sizes
#   benches/compare-nchan.sh --quick    # 1 run, smaller sizes: a fast check
#   options: --runs N  --duration SECONDS  --out DIR  --no-search  --no-floor
#            --bin-dir DIR (prebuilt causerie and causerie-bench; skips the build)
#            --only LABEL (repeatable: only these scenarios, e.g. 10k-subs-100-rooms-200-msg-s)
#
# Needs root (or nginx + libnginx-mod-nchan + jq already installed); everything listens
# on 127.0.0.1 only. Results: DIR/results.jsonl (one JSON line per run), DIR/floor.jsonl
# (`causerie-bench floor`: the kernel's cost of a bare write), DIR/summary.md (medians and
# ratios, what accepting a message costs apart from delivering it, and the floor).
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=3
DURATION=15
QUICK=0
SEARCH=1
BUILD=1
BIN=""
OUT=""
FLOOR=1
ONLY=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1; RUNS=1; DURATION=6 ;;
        --runs) RUNS="$2"; shift ;;
        --duration) DURATION="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        --no-search) SEARCH=0 ;;
        --no-floor) FLOOR=0 ;;
        --only) ONLY+=("$2"); shift ;;
        --bin-dir) BIN="$2"; BUILD=0; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
    shift
done

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

nchan_module() {
    # Prints the load_module line nginx needs for nchan, or nothing when it is built in.
    if nginx -V 2>&1 | grep -q nchan; then return 0; fi
    local so
    for so in /usr/lib/nginx/modules/ngx_nchan_module.so /usr/share/nginx/modules/ngx_nchan_module.so; do
        if [ -f "$so" ]; then echo "load_module $so;"; return 0; fi
    done
    return 1
}

ensure_tools() {
    local missing=()
    command -v nginx >/dev/null || missing+=(nginx)
    command -v nginx >/dev/null && nchan_module >/dev/null || missing+=(libnginx-mod-nchan)
    command -v jq >/dev/null || missing+=(jq)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-nchan jq >/dev/null
    fi
    nchan_module >/dev/null || { echo "nginx has no nchan module" >&2; exit 1; }
}

free_port() {
    local port
    for port in $(seq 18100 18999); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
    done
    return 1
}

NGINX_MASTER=""
NGINX_DIR=""
start_nchan() {
    NGINX_DIR=$(mktemp -d /tmp/causerie-nchan.XXXXXX)
    chmod 755 "$NGINX_DIR"
    NCHAN_PORT=$(free_port)
    sed -e "s|@LOAD_MODULE@|$(nchan_module)|" -e "s|@DIR@|$NGINX_DIR|g" -e "s|@PORT@|$NCHAN_PORT|" \
        benches/nchan.conf >"$NGINX_DIR/nginx.conf"
    nginx -c "$NGINX_DIR/nginx.conf" -p "$NGINX_DIR" >"$NGINX_DIR/stdout.log" 2>&1 &
    NGINX_MASTER=$!
    local i
    for i in $(seq 1 100); do
        NCHAN_WORKER=$(pgrep -P "$NGINX_MASTER" | head -n1 || true)
        if [ -n "$NCHAN_WORKER" ] && (exec 3<>"/dev/tcp/127.0.0.1/$NCHAN_PORT") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    cat "$NGINX_DIR/error.log" "$NGINX_DIR/stdout.log" >&2 || true
    echo "nginx did not start" >&2
    exit 1
}

stop_nchan() {
    if [ -n "$NGINX_MASTER" ]; then
        kill -QUIT "$NGINX_MASTER" 2>/dev/null || true
        local i
        for i in $(seq 1 100); do kill -0 "$NGINX_MASTER" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$NGINX_MASTER" 2>/dev/null || true
        wait "$NGINX_MASTER" 2>/dev/null || true
        NGINX_MASTER=""
        rm -rf "$NGINX_DIR"
    fi
}
trap stop_nchan EXIT INT TERM

# run SYSTEM LABEL SUBSCRIBERS ROOMS RATE: one run, its JSON line appended to RESULTS.
run() {
    local system=$1 label=$2 subs=$3 rooms=$4 rate=$5
    local common=(--label "$label" -n "$subs" -r "$rooms" --rate "$rate" --duration "$DURATION"
                  --publishers 32 --json-out "$RESULTS")
    log "$system  $label  (${subs} subscribers, ${rooms} rooms, ${rate} msg/s)"
    local before
    before=$(wc -l <"$RESULTS")
    if [ "$system" = causerie ]; then
        "$BIN/causerie-bench" fanout --spawn "$BIN/causerie" "${common[@]}" >>"$OUT/runs.log" 2>&1 \
            || log "  run failed (see $OUT/runs.log)"
    else
        start_nchan
        "$BIN/causerie-bench" fanout --target generic --name nchan \
            --sub-url "http://127.0.0.1:$NCHAN_PORT/sub/{room}" --pub-url "http://127.0.0.1:$NCHAN_PORT/pub/{room}" \
            --server-pid "$NCHAN_WORKER" "${common[@]}" >>"$OUT/runs.log" 2>&1 \
            || log "  run failed (see $OUT/runs.log)"
        stop_nchan
    fi
    LAST_OK=0
    [ "$(wc -l <"$RESULTS")" -gt "$before" ] || return 0
    LAST_OK=1
    tail -n1 "$RESULTS" | jq -r '"  p99 \(.latency_ms.p99) ms, server \(.server.cpu_us_per_delivery|.*100|round/100) µs/delivery, \(.server.kib_per_connection|.*100|round/100) KiB/conn, missing \(.deliveries.missing)"' >&2
}

# The last run kept 95 % of its publishing rate with p99 under 100 ms and lost nothing.
last_passes() {
    [ "$LAST_OK" = 1 ] && tail -n1 "$RESULTS" | jq -e '.latency_ms.p99 < 100 and .deliveries.missing == 0 and .publish_failures == 0
        and .publish_rate_achieved >= 0.95 * .rate' >/dev/null
}

ensure_tools
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
BIN="${BIN:-$CARGO_TARGET_DIR/release}"
if [ "$BUILD" = 1 ]; then
    log "building causerie and causerie-bench (release)"
    cargo build --release --quiet --bin causerie --bin causerie-bench
fi
OUT="${OUT:-$(mktemp -d /tmp/causerie-compare.XXXXXX)}"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
touch "$RESULTS"
LAST_OK=0
log "results in $OUT"

# The last scenario has one subscriber per room: its CPU per delivery is what accepting and
# delivering one message costs, which the summary sets against the 100-room scenario.
if [ "$QUICK" = 1 ]; then
    SCENARIOS=("1k-subs-1-room-50-msg-s 1000 1 50" "2k-subs-1-room-10-msg-s 2000 1 10" "2k-subs-20-rooms-100-msg-s 2000 20 100"
               "20-subs-20-rooms-100-msg-s 20 20 100")
    SEARCH_SUBS=2000; SEARCH_ROOMS=20; SEARCH_RATES=(200 400 800 1200 1600 2400)
    FLOORS=("2000 10")
else
    SCENARIOS=("1k-subs-1-room-50-msg-s 1000 1 50" "10k-subs-1-room-5-msg-s 10000 1 5"
               "10k-subs-1-room-10-msg-s 10000 1 10" "10k-subs-100-rooms-200-msg-s 10000 100 200"
               "100-subs-100-rooms-200-msg-s 100 100 200")
    SEARCH_SUBS=10000; SEARCH_ROOMS=100; SEARCH_RATES=(200 400 600 800 1000 1200 1600 2400)
    # Connections and rounds per second of `causerie-bench floor`, as in the scenarios above.
    FLOORS=("9900 10" "9900 5" "100 200")
fi

for scenario in "${SCENARIOS[@]}"; do
    read -r label subs rooms rate <<<"$scenario"
    if [ ${#ONLY[@]} -gt 0 ] && ! printf '%s\n' "${ONLY[@]}" | grep -qxF "$label"; then
        continue
    fi
    for i in $(seq 1 "$RUNS"); do
        run causerie "$label" "$subs" "$rooms" "$rate"
        run nchan "$label" "$subs" "$rooms" "$rate"
    done
done

if [ "$SEARCH" = 1 ]; then
    # Ascending rates, one run each, alternately, until a system's p99 reaches 100 ms.
    label="rate-search-${SEARCH_SUBS}-subs-${SEARCH_ROOMS}-rooms"
    declare -A alive=([causerie]=1 [nchan]=1)
    for rate in "${SEARCH_RATES[@]}"; do
        for system in causerie nchan; do
            [ "${alive[$system]}" = 1 ] || continue
            run "$system" "$label" "$SEARCH_SUBS" "$SEARCH_ROOMS" "$rate"
            last_passes || alive[$system]=0
        done
        [ "${alive[causerie]}" = 1 ] || [ "${alive[nchan]}" = 1 ] || break
    done
fi

# The kernel's own cost of a delivery: bare writev(2)s on loopback, no server.
FLOOR_RESULTS="$OUT/floor.jsonl"
: >"$FLOOR_RESULTS"
[ "$FLOOR" = 1 ] || FLOORS=()
for floor in "${FLOORS[@]}"; do
    read -r connections rate <<<"$floor"
    log "floor  $connections connections, $rate rounds/s"
    "$BIN/causerie-bench" floor -n "$connections" --rate "$rate" --syscall writev --duration 10 2>>"$OUT/runs.log" \
        | tail -n1 >>"$FLOOR_RESULTS" || log "  floor run failed (see $OUT/runs.log)"
done

# median SYSTEM LABEL: the median server CPU per delivery of a scenario's runs.
median() {
    jq -s --arg system "$1" --arg scenario "$2" \
        '[.[] | select(.name == $system and .label == $scenario) | .server.cpu_us_per_delivery] | sort
         | if length == 0 then empty else .[length / 2 | floor] end' "$RESULTS"
}

# Per message and per delivery apart from accepting: the one-subscriber-per-room scenario
# against the same rate over the same rooms with many subscribers each.
accepting() {
    local many=$1 one=$2 per_room=$3 system m o
    echo
    echo "### Accepting a message, apart from delivering it (medians)"
    echo
    echo "| system | CPU µs per message (${one}) | CPU µs per delivery apart from accepting (${many}) |"
    echo "|---|---|---|"
    for system in causerie nchan; do
        m=$(median "$system" "$many"); o=$(median "$system" "$one")
        [ -n "$m" ] && [ -n "$o" ] || continue
        jq -rn --arg s "$system" --argjson m "$m" --argjson o "$o" --argjson n "$per_room" \
            '"| \($s) | \($o * 100 | round / 100) | \(($m * $n - $o) / $n * 100 | round / 100) |"'
    done
}

{
    echo "# causerie vs nchan ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, runs per scenario: $RUNS, ${DURATION} s of publishing per run)"
    "$BIN/causerie-bench" report --baseline nchan "$RESULTS"
    if [ "$QUICK" = 1 ]; then
        accepting 2k-subs-20-rooms-100-msg-s 20-subs-20-rooms-100-msg-s 100
    else
        accepting 10k-subs-100-rooms-200-msg-s 100-subs-100-rooms-200-msg-s 100
    fi
    echo
    echo "### Kernel floor: writer CPU per writev(2) to loopback connections, no server"
    echo
    echo "| connections | rounds per second | µs per write |"
    echo "|---|---|---|"
    jq -r '"| \(.connections) | \(.rate) | \(.cpu_us_per_write * 100 | round / 100) |"' "$FLOOR_RESULTS"
} | tee "$OUT/summary.md"
log "summary: $OUT/summary.md"
