#!/usr/bin/env bash
# Peak memory of image uploads. Starts a release `causerie` on a free loopback port with a
# temporary SQLite database, uploads PARALLEL copies of a SIDE x SIDE RGBA PNG at once (each
# with a message of its own), and prints how far the server's peak resident memory (VmHWM)
# rose above its peak before the uploads, with each upload's status.
#
#   benches/image-memory.sh                                     # 4 x 7071x7071 (50 Mpx)
#   SIDE=7071 PARALLEL=4 benches/image-memory.sh CAUSERIE_IMAGE_MEMORY_MIB=100000
#
# Extra arguments are settings for the server (KEY=VALUE). The binary is CAUSERIE_BIN, or
# $CARGO_TARGET_DIR/release/causerie (build it with `cargo build --release`).
set -euo pipefail

BIN=${CAUSERIE_BIN:-${CARGO_TARGET_DIR:-target}/release/causerie}
SIDE=${SIDE:-7071}
PARALLEL=${PARALLEL:-4}
PASSWORD=bench-password-1

dir=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

# A PNG that compresses to a few hundred KB and decodes to SIDE x SIDE x 4 bytes.
python3 - "$dir/big.png" "$SIDE" <<'EOF'
import struct, sys, zlib
path, side = sys.argv[1], int(sys.argv[2])
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
row = b"\0" + bytes([40, 120, 200, 255]) * side
z = zlib.compressobj(9)
idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
with open(path, "wb") as out:
    out.write(b"\x89PNG\r\n\x1a\n")
    out.write(chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)))
    out.write(chunk(b"IDAT", idat))
    out.write(chunk(b"IEND", b""))
EOF

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
env CAUSERIE_ADMIN_PASSWORD=$PASSWORD CAUSERIE_BIND=127.0.0.1:$port \
    CAUSERIE_DATABASE_URL="sqlite://$dir/causerie.db" CAUSERIE_UPLOADS_DIR="$dir/uploads" \
    CAUSERIE_RATE_LIMIT_PER_MINUTE=0 CAUSERIE_LOG_LEVEL=warn "$@" "$BIN" >"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    curl -fs "$url/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

curl -fs -c "$dir/jar" -H 'content-type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" "$url/chat/api/auth/login" >/dev/null
room=$(curl -fs -b "$dir/jar" -H 'content-type: application/json' -H "origin: $url" \
    -d '{"room_type":"group","name":"images","member_ids":[]}' "$url/chat/api/rooms" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')

hwm() { awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$pid/status"; }
before=$(hwm)
start=$(date +%s.%N)
for i in $(seq "$PARALLEL"); do
    curl -s -o /dev/null -w '%{http_code} %{time_total}s\n' -b "$dir/jar" -H "origin: $url" \
        -F "room_id=$room" -F "files=@$dir/big.png;filename=big$i.png" "$url/chat/api/messages" >"$dir/upload$i" &
done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
end=$(date +%s.%N)
after=$(hwm)

echo "image: ${SIDE}x${SIDE} RGBA PNG, $(($(stat -c %s "$dir/big.png") / 1024)) KiB; $PARALLEL uploads at once; settings: ${*:-defaults}"
for i in $(seq "$PARALLEL"); do echo "upload $i: $(cat "$dir/upload$i")"; done
echo "peak RSS before: $before MiB; after: $after MiB; rise: $((after - before)) MiB; wall: $(python3 -c "print(f'{$end - $start:.1f}')") s"
