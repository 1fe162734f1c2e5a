#!/usr/bin/env python3
"""The seeding and the client of benches/connect-storm.sh. Standard library only.

  connect_storm.py seed DB USERS GROUP
      Fills a migrated, empty SQLite database: USERS users (`chat.read`), each with an API
      token, and two partitions of them into groups of GROUP (consecutive users, then users
      spread by a stride of 37), as benches/presence_storm.rs does.

  connect_storm.py storm PORT SERVER_PID USERS CONCURRENCY SETTLE [RATE]
      Opens one all-rooms stream per user (`GET /chat/api/stream`, `Authorization: Bearer`;
      connection i started at i / RATE seconds when RATE is given and not 0, else as fast as
      the server takes them), at most CONCURRENCY at once between the connect and the
      stream's first bytes, keeps
      every stream open and read, and prints one JSON line: the server's CPU (utime + stime
      of /proc/SERVER_PID/stat) from just before the first connect until SETTLE seconds after
      the last stream opened, and the `presence` events the streams carried.
"""

import asyncio
import hashlib
import json
import os
import sqlite3
import subprocess
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


def callgrind(option, pid):
    """Under CONNECT_STORM_CALLGRIND=1: zeroes (`-z`) or dumps (`-d`) the server's counts, so
    that they cover the storm alone."""
    if os.environ.get("CONNECT_STORM_CALLGRIND") == "1":
        subprocess.run(["callgrind_control", option, str(pid)], check=True, stdout=subprocess.DEVNULL)


def server_cpu(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Counts:
    def __init__(self, users):
        self.users = users
        self.opened = 0
        self.failed = []
        self.presence = 0
        self.bytes = 0
        self.all_open = asyncio.Event()

    def settled(self):
        if self.opened + len(self.failed) == self.users:
            self.all_open.set()


PRESENCE = b"event: presence\n"


class Stream(asyncio.Protocol):
    """One stream, read by callbacks (cheaper than a coroutine per read, so that the client
    keeps up with the server): counts `presence` events, keeping a tail of the previous
    read so that an event split across two reads counts once."""

    def __init__(self, counts, opened):
        self.counts = counts
        self.opened = opened  # resolved at the stream's first bytes, or on failure
        self.head = b""
        self.tail = b""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        counts = self.counts
        if not self.opened.done():
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.head.startswith(b"HTTP/1.1 200"):
                self.fail(self.head.split(b"\r\n", 1)[0].decode(errors="replace"))
                return
            data = self.head[end + 4:]
            self.head = b""
            if not data:
                return
            counts.opened += 1
            self.opened.set_result(True)
            counts.settled()
        counts.bytes += len(data)
        chunk = self.tail + data
        counts.presence += chunk.count(PRESENCE)
        self.tail = chunk[-(len(PRESENCE) - 1):]

    def fail(self, why):
        if not self.opened.done():
            self.counts.failed.append(why)
            self.opened.set_result(False)
            self.counts.settled()
        self.transport.close()

    def connection_lost(self, exc):
        self.fail("closed before the stream's first bytes")


async def one_stream(loop, port, i, gate, counts, streams, start_at):
    if start_at is not None:
        await asyncio.sleep(start_at - loop.time())
    request = (
        "GET /chat/api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        "Authorization: Bearer %s\r\n\r\n" % token(i)
    ).encode()
    async with gate:
        opened = loop.create_future()
        try:
            transport, _ = await loop.create_connection(lambda: Stream(counts, opened), "127.0.0.1", port)
        except OSError as error:
            counts.failed.append(str(error))
            counts.settled()
            return
        streams.append(transport)
        transport.write(request)
        await opened


async def storm(port, pid, users, concurrency, settle, rate):
    loop = asyncio.get_running_loop()
    counts = Counts(users)
    gate = asyncio.Semaphore(concurrency)
    streams = []
    callgrind("-z", pid)
    client0 = os.times()
    cpu0, t0 = server_cpu(pid), time.monotonic()
    begin = loop.time()
    tasks = [
        asyncio.create_task(
            one_stream(loop, port, i, gate, counts, streams, begin + i / rate if rate > 0 else None)
        )
        for i in range(users)
    ]
    await counts.all_open.wait()
    opened_at = time.monotonic()
    await asyncio.sleep(settle)
    cpu1, presence1 = server_cpu(pid), counts.presence
    client1 = os.times()
    callgrind("-d", pid)
    # A little longer: whether presence was still being written when CPU was read.
    await asyncio.sleep(3)
    cpu2, presence2 = server_cpu(pid), counts.presence
    await asyncio.gather(*tasks, return_exceptions=True)
    for transport in streams:
        transport.close()
    opened = counts.opened
    result = {
        "users": users,
        "concurrency": concurrency,
        "rate": rate,
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
        "client_cpu_s": round(client1.user + client1.system - client0.user - client0.system, 2),
    }
    print(json.dumps(result), flush=True)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "seed":
        seed(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "storm":
        port, pid, users, concurrency = (int(a) for a in sys.argv[2:6])
        rate = float(sys.argv[7]) if len(sys.argv) > 7 else 0
        asyncio.run(storm(port, pid, users, concurrency, float(sys.argv[6]), rate))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
