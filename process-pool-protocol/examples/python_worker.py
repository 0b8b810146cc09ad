#!/usr/bin/env python3
"""A process-pool worker in Python, standard library only (see PROTOCOL.md).

Serves `echo`, `upper`, `add` (JSON `[a, b]` -> JSON number), `pid` and `sleep` (payload:
milliseconds; cancellable), and for the conformance suites `fail` (an error answer), `die` (the
worker exits at once) and `wedge` (the worker answers nothing more, pings included), on
stdin/stdout, `WORKER_CONCURRENCY` calls at once (default 1),
each in a thread (`WORKER_ANNOUNCE`, for tests, announces another number than it takes, as a
misbehaving worker would). Copy it and replace METHODS with your own: a method takes the payload bytes
and a threading.Event set when the call is cancelled, and returns bytes or raises.
"""

import json
import os
import struct
import sys
import threading

PROTOCOL_VERSION = 1
HELLO, CALL, REPLY, ERROR, CANCEL, PING, PONG, SHUTDOWN = range(1, 9)
HEADER = struct.Struct(">BBHQ")  # kind, flags, name length, id
MAX_FRAME = 16 << 20


class Cancelled(Exception):
    pass


def sleep(payload, cancelled):
    if cancelled.wait(int(payload) / 1000):
        raise Cancelled()
    return b"slept"


def fail(payload, cancelled):
    raise RuntimeError("failed as asked")


def die(payload, cancelled):
    os._exit(3)


def wedge(payload, cancelled):
    # Holding the writer, no frame goes out any more: the process lives, silent.
    write_lock.acquire()
    threading.Event().wait()


METHODS = {
    "echo": lambda payload, cancelled: payload,
    "upper": lambda payload, cancelled: payload.upper(),
    "add": lambda payload, cancelled: json.dumps(sum(json.loads(payload))).encode(),
    "pid": lambda payload, cancelled: str(os.getpid()).encode(),
    "sleep": sleep,
    "fail": fail,
    "die": die,
    "wedge": wedge,
}

stdin = sys.stdin.buffer
stdout = sys.stdout.buffer
write_lock = threading.Lock()


def write_frame(kind, call_id, name=b"", payload=b""):
    body = HEADER.pack(kind, 0, len(name), call_id) + name + payload
    with write_lock:
        stdout.write(struct.pack(">I", len(body)) + body)
        stdout.flush()


def read_exactly(n):
    data = b""
    while len(data) < n:
        chunk = stdin.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame():
    prefix = read_exactly(4)
    if prefix is None:
        return None
    (length,) = struct.unpack(">I", prefix)
    if length > MAX_FRAME or length < HEADER.size:
        raise ValueError(f"frame of {length} bytes is out of bounds")
    body = read_exactly(length)
    if body is None:
        raise ValueError("the stream ended inside a frame")
    kind, _flags, name_len, call_id = HEADER.unpack_from(body)
    name = body[HEADER.size : HEADER.size + name_len].decode()
    return kind, call_id, name, body[HEADER.size + name_len :]


def serve_call(call_id, method, payload, cancelled, in_flight, slots):
    try:
        result = METHODS[method](payload, cancelled)
        answer = (REPLY, b"", result)
    except Cancelled:
        answer = (ERROR, b"cancelled", b"cancelled")
    except Exception as error:  # the worker lives on
        answer = (ERROR, b"failed", f"{type(error).__name__}: {error}".encode())
    # Free the slot before answering: the pool sends the next call as soon as it reads this.
    with write_lock:
        in_flight.pop(call_id, None)
    slots.release()
    kind, name, body = answer
    write_frame(kind, call_id, name, body)


def main():
    concurrency = int(os.environ.get("WORKER_CONCURRENCY", "1"))
    hello = {
        "protocol": PROTOCOL_VERSION,
        "methods": sorted(METHODS),
        "concurrency": int(os.environ.get("WORKER_ANNOUNCE", concurrency)),
        "max_frame": MAX_FRAME,
    }
    write_frame(HELLO, 0, payload=json.dumps(hello).encode())
    in_flight = {}
    slots = threading.BoundedSemaphore(concurrency)
    threads = []
    while True:
        frame = read_frame()
        if frame is None:  # the pool is gone
            os._exit(0)
        kind, call_id, name, payload = frame
        if kind == CALL:
            if name not in METHODS:
                write_frame(ERROR, call_id, b"unknown_method", f"unknown method `{name}`".encode())
            elif not slots.acquire(blocking=False):
                write_frame(ERROR, call_id, b"overloaded", b"too many calls at once")
            else:
                cancelled = threading.Event()
                with write_lock:
                    in_flight[call_id] = cancelled
                thread = threading.Thread(
                    target=serve_call,
                    args=(call_id, name, payload, cancelled, in_flight, slots),
                    daemon=True,
                )
                thread.start()
                threads = [t for t in threads if t.is_alive()] + [thread]
        elif kind == CANCEL:
            with write_lock:
                event = in_flight.get(call_id)
            if event is not None:
                event.set()
        elif kind == PING:
            write_frame(PONG, call_id)
        elif kind == SHUTDOWN:
            for thread in threads:
                thread.join()
            return
        else:
            raise ValueError(f"a worker does not expect frame kind {kind}")


if __name__ == "__main__":
    main()
