"""Minimal client of rtpengine's ng control protocol (bencode over UDP)."""

from __future__ import annotations

import os
import socket


def encode(value) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list | tuple):
        return b"l" + b"".join(encode(v) for v in value) + b"e"
    if isinstance(value, dict):
        return b"d" + b"".join(encode(k) + encode(value[k]) for k in sorted(value)) + b"e"
    raise TypeError(type(value))


def decode(data: bytes):
    value, rest = _decode(data, 0)
    return value


def _decode(data: bytes, i: int):
    c = data[i : i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1 : end]), end + 1
    if c in (b"l", b"d"):
        items, i = [], i + 1
        while data[i : i + 1] != b"e":
            item, i = _decode(data, i)
            items.append(item)
        if c == b"l":
            return items, i + 1
        return {items[k].decode(): items[k + 1] for k in range(0, len(items), 2)}, i + 1
    colon = data.index(b":", i)
    length = int(data[i:colon])
    start = colon + 1
    return data[start : start + length], start + length


def command(host: str, port: int, payload: dict, timeout: float = 1.0) -> dict:
    cookie = os.urandom(6).hex().encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(cookie + b" " + encode(payload), (host, port))
        data, _ = sock.recvfrom(65535)
    got_cookie, _, body = data.partition(b" ")
    if got_cookie != cookie:
        raise RuntimeError("rtpengine answered another request")
    return decode(body)


def text(value):
    """An answer with its byte strings as text (rtpengine's labels, tags, addresses)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [text(v) for v in value]
    if isinstance(value, dict):
        return {k: text(v) for k, v in value.items()}
    return value


def calls(host: str, port: int) -> list[str]:
    """Call-IDs of the sessions rtpengine holds now."""
    return [c.decode() for c in command(host, port, {"command": "list", "limit": 1000}).get("calls", [])]


def query(host: str, port: int, call_id: str, timeout: float = 1.0) -> dict:
    return command(host, port, {"command": "query", "call-id": call_id}, timeout)


def packets_per_leg(answer: dict) -> dict[str, int]:
    """Packets rtpengine received on each leg (by tag) of a `query` answer."""
    return {(tag.decode() if isinstance(tag, bytes) else tag):
            sum(stream["stats"]["packets"] for media in leg["medias"] for stream in media["streams"])
            for tag, leg in answer.get("tags", {}).items()}


def ping(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        return command(host, port, {"command": "ping"}, timeout).get("result") == b"pong"
    except (OSError, RuntimeError, ValueError):
        return False
