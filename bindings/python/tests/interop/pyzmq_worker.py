"""A zroute worker written from spec/PROTOCOL.md alone, on pyzmq (libzmq
inside): the interop partner that shows the router's native ZMTP transport
serving a ZeroMQ stack it did not write.

It registers (HELLO), answers PINGs and sends its own every heartbeat
interval, and answers every request with 200 and a body naming the request's
path, in one message of two parts (SYN_REPLY, then DATA with FIN), as §3.2
allows. No flow control beyond that: its bodies are small.

Usage: python pyzmq_worker.py ENDPOINT ID
"""

import struct
import sys
import time

import zmq

VERSION = 3
SYN_STREAM, SYN_REPLY, PING, GOAWAY, HELLO, WELCOME = 1, 2, 6, 7, 0x5A01, 0x5A02
FLAG_FIN = 0x01


def control(kind: int, payload: bytes, flags: int = 0) -> bytes:
    """§4.1: a control frame header, then the payload."""
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data(stream: int, payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">II", stream & 0x7FFFFFFF, (flags << 24) | len(payload)) + payload


def block(pairs) -> bytes:
    """§7.1: the name/value block."""
    out = struct.pack(">I", len(pairs))
    for name, value in pairs:
        out += struct.pack(">I", len(name)) + name + struct.pack(">I", len(value)) + value
    return out


def parse_block(raw: bytes) -> dict:
    (count,) = struct.unpack_from(">I", raw, 0)
    at, pairs = 4, {}
    for _ in range(count):
        (n,) = struct.unpack_from(">I", raw, at)
        name = raw[at + 4 : at + 4 + n]
        at += 4 + n
        (v,) = struct.unpack_from(">I", raw, at)
        pairs[name] = raw[at + 4 : at + 4 + v]
        at += 4 + v
    return pairs


def main() -> None:
    endpoint, worker_id = sys.argv[1], sys.argv[2].encode()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    # HELLO: protocol version 1, capacity 16, window 64 KiB, attribute id.
    hello = struct.pack(">HHII", 1, 0, 16, 65536) + block([(b"id", worker_id)])
    sock.send(control(HELLO, hello))
    interval = 1.0
    next_ping_id = 2
    echoed = answered = 0
    last_sent = time.monotonic()
    while True:
        if sock.poll(int(interval * 250)):
            for part in sock.recv_multipart():
                if len(part) < 8:
                    continue
                if not part[0] & 0x80:
                    continue  # request DATA: the bodies here are ignored
                (_, kind, flags_len) = struct.unpack_from(">HHI", part, 0)
                payload = part[8:]
                if kind == WELCOME:
                    (_, _, interval_ms, _) = struct.unpack_from(">HHII", payload, 0)
                    interval = interval_ms / 1000.0
                    print("welcomed", flush=True)
                elif kind == PING:
                    (ping_id,) = struct.unpack_from(">I", payload, 0)
                    if ping_id % 2 == 1:  # the router's: echo it
                        sock.send(control(PING, payload))
                        last_sent = time.monotonic()
                        echoed += 1
                        print(f"echoed {echoed}", flush=True)
                    else:  # the echo of one of ours
                        answered += 1
                        print(f"answered {answered}", flush=True)
                elif kind == SYN_STREAM:
                    (stream,) = struct.unpack_from(">I", payload, 0)
                    head = parse_block(payload[10:])
                    body = b"pyzmq " + worker_id + b" " + head.get(b":path", b"?")
                    reply = struct.pack(">I", stream) + block(
                        [(b":status", b"200"), (b":version", b"HTTP/1.1"), (b"content-type", b"text/plain")]
                    )
                    sock.send_multipart([control(SYN_REPLY, reply), data(stream, body, FLAG_FIN)])
                    last_sent = time.monotonic()
                elif kind == GOAWAY:
                    return
        if time.monotonic() - last_sent >= interval / 2:
            sock.send(control(PING, struct.pack(">I", next_ping_id)))
            next_ping_id = (next_ping_id + 2) % (1 << 32)
            last_sent = time.monotonic()


if __name__ == "__main__":
    main()
