"""Is a service there, and which one: Redis answering PING, the rtpengine installed here (sbcctl and the
launcher both ask)."""

from __future__ import annotations

import re
import socket
import subprocess


def redis_ping(ip: str, port: int, timeout: float = 0.5, password: str = "") -> bool:
    """True when Redis answers PING (after AUTH when it has a password); OSError when it cannot be reached."""
    with socket.create_connection((ip, port), timeout=timeout) as conn:
        if password:
            conn.sendall(f"AUTH {password}\r\n".encode())
            if not conn.recv(64).startswith(b"+OK"):
                return False
        conn.sendall(b"PING\r\n")
        return conn.recv(16).startswith(b"+PONG")


AUDIO_PLAYER_SINCE = (11,)  # rtpengine's audio player (media keepalive): mr11 and later


def rtpengine_version(binary: str = "rtpengine") -> tuple[int, ...] | None:
    """The version of the rtpengine installed here ("Version: 12.5.1.31-1"), None when there is none."""
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_rtpengine_version(done.stdout + done.stderr)  # it prints to stderr


def parse_rtpengine_version(text: str) -> tuple[int, ...] | None:
    found = re.search(r"Version:\s*(\d+(?:\.\d+)*)", text)
    return tuple(int(part) for part in found.group(1).split(".")) if found else None
