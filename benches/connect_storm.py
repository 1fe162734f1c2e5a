#!/usr/bin/env python3
"""The seeding and the client of benches/connect-storm.sh. Standard library only.

  connect_storm.py seed DB USERS GROUP
      Fills a migrated, empty SQLite database: USERS users (`chat.read`), each with an API
      token, and two partitions of them into groups of GROUP (consecutive users, then users
      spread by a stride of 37), as benches/presence_storm.rs does.

  connect_storm.py storm PORT SERVER_PID USERS CONCURRENCY SETTLE
      Opens one all-rooms stream per user (`GET /chat/api/stream`, `Authorization: Bearer`),
      at most CONCURRENCY at once between the connect and the stream's first bytes, keeps
      every stream open and read, and prints one JSON line: the server's CPU (utime + stime
      of /proc/SERVER_PID/stat) from just before the first connect until SETTLE seconds after
      the last stream opened, and the `presence` events the streams carried.
"""

import asyncio
import hashlib
import json
import os
import sqlite3
import sys
import time

STRIDE = 37


def token(i):
    """The API token of user i: derived from i, so that the client needs no list."""
    return "cau_" + hashlib.sha256(b"connect-storm-%d" % i).hexdigest()


def seed(db, users, group):
    assert users % group == 0 and users % STRIDE != 0
    now = int(time.time() * 1e6)
    conn = sqlite3.connect(db)
    with conn:
        assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0, "database not empty"
        conn.executemany(
            "INSERT INTO users (id, username, display_name, password_hash, is_admin, disabled, created_at)"
            " VALUES (?, ?, ?, 'x', 0, 0, ?)",
            ((i + 1, "u%d" % i, "u%d" % i, now) for i in range(users)),
        )
        conn.executemany(
            "INSERT INTO user_permissions (user_id, permission) VALUES (?, 'chat.read')",
            ((i + 1,) for i in range(users)),
        )
        conn.executemany(
            "INSERT INTO api_tokens (user_id, token_hash, name, created_at) VALUES (?, ?, 'storm', ?)",
            ((i + 1, hashlib.sha256(token(i).encode()).hexdigest(), now) for i in range(users)),
        )
        room = 0
        members = []
        for partition in range(2):
            for g in range(users // group):
                room += 1
                conn.execute(
                    "INSERT INTO chat_rooms (id, name, room_type, created_by_id, created_at, updated_at,"
                    " last_activity_at) VALUES (?, 'g', 'group', 1, ?, ?, ?)",
                    (room, now, now, now),
                )
                for k in range(group):
                    i = g * group + k
                    member = i if partition == 0 else (i * STRIDE) % users
                    members.append((room, member + 1, now))
        conn.executemany(
            "INSERT INTO chat_room_members (room_id, user_id, role, joined_at) VALUES (?, ?, 'member', ?)",
            members,
        )
    conn.close()


def server_cpu(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Counts:
    def __init__(self):
        self.opened = 0
        self.failed = []
        self.presence = 0
        self.bytes = 0
        self.last_open = None


PRESENCE = b"event: presence\n"


async def one_stream(port, i, gate, counts, all_open, stop):
    request = (
        "GET /chat/api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        "Authorization: Bearer %s\r\n\r\n" % token(i)
    ).encode()
    async with gate:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise OSError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
            first = await reader.read(65536)  # the stream's first bytes: `retry: …`
            if not first:
                raise OSError("stream ended at once")
        except (OSError, asyncio.IncompleteReadError) as error:
            counts.failed.append(str(error))
            if len(counts.failed) + counts.opened == all_open[1]:
                all_open[0].set()
            return
    counts.opened += 1
    counts.last_open = time.monotonic()
    if counts.opened + len(counts.failed) == all_open[1]:
        all_open[0].set()
    # Read until told to stop, counting `presence` events (a tail of the previous chunk is
    # kept so that an event split across two reads counts once).
    tail = b""
    data = first
    try:
        while True:
            counts.bytes += len(data)
            chunk = tail + data
            counts.presence += chunk.count(PRESENCE)
            tail = chunk[-(len(PRESENCE) - 1):]
            read = asyncio.ensure_future(reader.read(65536))
            done, _ = await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
            if read not in done:
                read.cancel()
                break
            data = read.result()
            if not data:
                break
    finally:
        writer.close()


async def storm(port, pid, users, concurrency, settle):
    counts = Counts()
    gate = asyncio.Semaphore(concurrency)
    all_open = (asyncio.Event(), users)
    stop = asyncio.get_running_loop().create_future()
    cpu0, t0 = server_cpu(pid), time.monotonic()
    tasks = [asyncio.create_task(one_stream(port, i, gate, counts, all_open, stop)) for i in range(users)]
    await all_open[0].wait()
    opened_at = time.monotonic()
    await asyncio.sleep(settle)
    cpu1, presence1 = server_cpu(pid), counts.presence
    # A little longer: whether presence was still being written when CPU was read.
    await asyncio.sleep(3)
    cpu2, presence2 = server_cpu(pid), counts.presence
    stop.set_result(None)
    await asyncio.gather(*tasks, return_exceptions=True)
    opened = counts.opened
    result = {
        "users": users,
        "concurrency": concurrency,
        "opened": opened,
        "failed": len(counts.failed),
        "failures": sorted(set(counts.failed))[:5],
        "storm_s": round(opened_at - t0, 3),
        "settle_s": settle,
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "cpu_us_per_stream": round((cpu1 - cpu0) / max(opened, 1) * 1e6, 1),
        "presence_events": presence1,
        "server_cpu_s_3s_later": round(cpu2 - cpu0, 3),
        "presence_events_3s_later": presence2,
        "bytes_read": counts.bytes,
    }
    print(json.dumps(result), flush=True)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "seed":
        seed(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "storm":
        port, pid, users, concurrency = (int(a) for a in sys.argv[2:6])
        asyncio.run(storm(port, pid, users, concurrency, float(sys.argv[6])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
