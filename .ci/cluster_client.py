#!/usr/bin/env python3
"""A chat client for .ci/cluster.sh, through nginx: `stream` reads a room's stream and, like
EventSource, reconnects after any end with Last-Event-ID; `send` posts numbered messages.
Standard library only."""

import http.client
import json
import sys
import time


def request(host, port, method, path, body=None, headers=None, timeout=10):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, payload


def stream(host, port, token, room, out_path, stop_path, quiet_after):
    """Writes one line per stored event: `id kind message_id`. Ends when `stop_path` exists
    and nothing came for `quiet_after` seconds."""
    last_id = None
    reconnects = 0
    last_event_at = time.time()
    with open(out_path, "w", buffering=1) as out:
        while True:
            headers = {"Authorization": "Bearer " + token, "Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = str(last_id)
            try:
                conn = http.client.HTTPConnection(host, port, timeout=5)
                conn.request("GET", "/chat/api/stream?room_id=%d" % room, headers=headers)
                resp = conn.getresponse()
                if resp.status != 200:
                    raise OSError("HTTP %d" % resp.status)
                event = {}
                while True:
                    try:
                        line = resp.readline()  # decodes chunked transfer encoding
                    except TimeoutError:
                        # Nothing for a while (the server pings less often): the reader is
                        # unusable after a timeout, so reconnect by id, as after any end.
                        break
                    if not line:
                        break
                    line = line.decode().rstrip("\r\n")
                    if line == "":
                        if "id" in event:
                            last_id = int(event["id"])
                            data = json.loads(event.get("data", "{}"))
                            mid = data.get("id", "-") if event.get("event") == "new_message" else "-"
                            out.write("%d %s %s\n" % (last_id, event.get("event", "message"), mid))
                            last_event_at = time.time()
                        event = {}
                    elif not line.startswith(":") and ":" in line:
                        key, _, value = line.partition(":")
                        event[key] = value[1:] if value.startswith(" ") else value
            except (OSError, http.client.HTTPException):
                pass
            if stop_exists(stop_path) and time.time() - last_event_at > quiet_after:
                out.write("# reconnects %d\n" % reconnects)
                return
            reconnects += 1
            time.sleep(0.3)  # EventSource waits `retry` ms; shorter keeps the run short


def stop_exists(path):
    try:
        open(path).close()
        return True
    except OSError:
        return False


def send(host, port, token, room, count, rate, out_path):
    """Posts `count` messages at `rate` per second; writes `n message_id` for each acknowledged
    one. A request that got no answer is not repeated (it may have been stored): only
    acknowledged messages are checked, and every one of them must reach the stream once."""
    headers = {"Authorization": "Bearer " + token}
    with open(out_path, "w", buffering=1) as out:
        for n in range(count):
            due = time.time() + 1.0 / rate
            try:
                status, payload = request(host, port, "POST", "/chat/api/messages",
                                          {"room_id": room, "content": "rolling %d" % n}, headers)
                if status == 201:
                    out.write("%d %d\n" % (n, json.loads(payload)["id"]))
                else:
                    out.write("# %d HTTP %d\n" % (n, status))
            except (OSError, http.client.HTTPException) as e:
                out.write("# %d %s\n" % (n, e))
            time.sleep(max(0.0, due - time.time()))


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "stream":
        stream(host, port, sys.argv[4], int(sys.argv[5]), sys.argv[6], sys.argv[7], float(sys.argv[8]))
    elif mode == "send":
        send(host, port, sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), sys.argv[8])
    else:
        sys.exit("usage: cluster_client.py stream|send HOST PORT TOKEN ROOM …")


if __name__ == "__main__":
    main()
