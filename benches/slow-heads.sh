#!/usr/bin/env bash
# Server CPU spent on stream requests whose head never completes. Starts a release
# `causerie` on a free loopback port with a temporary SQLite database, opens SOCKETS
# connections that each send the start of a stream request's head and then nothing, and
# prints the server's CPU time (user + system, from /proc/PID/stat) until the server has
# closed them all, with when it did.
#
#   benches/slow-heads.sh                  # 120 sockets
#   SOCKETS=500 benches/slow-heads.sh
#
# The binary is CAUSERIE_BIN, or $CARGO_TARGET_DIR/release/causerie.
set -euo pipefail

BIN=${CAUSERIE_BIN:-${CARGO_TARGET_DIR:-target}/release/causerie}
SOCKETS=${SOCKETS:-120}

dir=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env CAUSERIE_ADMIN_PASSWORD=bench-password-1 CAUSERIE_BIND=127.0.0.1:$port \
    CAUSERIE_DATABASE_URL="sqlite://$dir/causerie.db" CAUSERIE_UPLOADS_DIR="$dir/uploads" \
    CAUSERIE_LOG_LEVEL=warn "$@" "$BIN" >"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
sleep 1

python3 - "$pid" "$port" "$SOCKETS" <<'EOF'
import os, select, socket, sys, time
pid, port, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
tick = os.sysconf("SC_CLK_TCK")
def cpu():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick
socks = []
start_cpu, start = cpu(), time.monotonic()
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /chat/api/stream HTTP/1.1\r\nHost: localhost\r\n")
    socks.append(s)
closed, answers = {}, {}
while len(closed) < count and time.monotonic() - start < 30:
    open_ = [s for s in socks if s not in closed]
    readable, _, _ = select.select(open_, [], [], 0.05)
    for s in readable:
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if data:
            answers[s] = answers.get(s, b"") + data
        else:
            closed[s] = time.monotonic() - start
end_cpu = cpu()
times = sorted(closed.values())
statuses = sorted({a.split(b"\r\n", 1)[0].decode(errors="replace") for a in answers.values()})
print(f"{count} stalled stream heads; closed by the server: {len(closed)}, "
      f"after {times[0]:.1f}-{times[-1]:.1f} s" if times else "none closed")
print(f"answers: {statuses}")
print(f"server CPU until then: {end_cpu - start_cpu:.2f} s (user + system)")
EOF
