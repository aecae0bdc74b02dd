"""SIP OPTIONS probe over UDP: is a SIP socket answering, and with which status?"""

from __future__ import annotations

import os
import socket

from sbclib.policy import LOCAL_MONITOR


def options(host: str, port: int, source_ip: str = LOCAL_MONITOR, timeout: float = 1.0) -> int | None:
    """Status code of the answer to one OPTIONS, or None when nothing answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source_ip, 0))
        sock.settimeout(timeout)
        lport = sock.getsockname()[1]
        tag = os.urandom(4).hex()
        request = (
            f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {source_ip}:{lport};branch=z9hG4bK{tag};rport\r\n"
            f"From: <sip:probe@{source_ip}>;tag={tag}\r\n"
            f"To: <sip:{host}:{port}>\r\n"
            f"Call-ID: probe-{tag}@{source_ip}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Max-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        try:
            sock.sendto(request.encode(), (host, port))
            data, _ = sock.recvfrom(65535)
        except OSError:
            return None
    first = data.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) > 1 and first[1].isdigit() else None
