"""Kamailio's JSON-RPC over its local datagram socket (jsonrpcs `dgram_socket`)."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import uuid
from pathlib import Path


class RpcError(RuntimeError):
    pass


def socket_path(run_dir: Path) -> Path:
    """Kamailio's JSON-RPC socket under the SBC's run directory (its own directory: compose shares it)."""
    return run_dir / "rpc" / "kamailio_rpc.sock"


def call(sock_path: Path, method: str, *params, timeout: float = 5.0):
    request = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}).encode()
    reply_path = _reply_dir(sock_path) / f"sbcctl-{os.getpid()}-{uuid.uuid4().hex[:12]}.sock"  # one per call
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(reply_path))
        _let_kamailio_answer(reply_path, sock_path)
        sock.settimeout(timeout)
        try:
            sock.sendto(request, str(sock_path))
            data = sock.recv(1 << 20)
        except OSError as exc:
            raise RpcError(f"Kamailio control socket {sock_path}: {exc}") from None
        finally:
            reply_path.unlink(missing_ok=True)
    answer = json.loads(data)
    if "error" in answer:
        raise RpcError(f"{method}: {answer['error'].get('message', answer['error'])}")
    return answer.get("result")


def _reply_dir(sock_path: Path) -> Path:
    """Where Kamailio can answer: beside its control socket when that directory is shared with the caller (the
    API's container shares only it), else this host's temporary directory."""
    return sock_path.parent if os.access(sock_path.parent, os.W_OK | os.X_OK) else Path(tempfile.gettempdir())


def _let_kamailio_answer(reply_path: Path, sock_path: Path) -> None:
    """Kamailio may run as another user (privileges dropped): it can answer only into a socket its
    group may write, the group owning its own control socket."""
    os.chmod(reply_path, 0o660)
    try:
        os.chown(reply_path, -1, os.stat(sock_path).st_gid)
    except OSError:
        pass  # not ours to give (or no control socket): the send below says what is wrong


ROUTING_GENERATION = ("sbcstate", "generation")  # kamailio.cfg htable; kemi/routes.py sync_caches()


def new_routing_generation(jsonrpc) -> None:
    """Every Kamailio process empties its DID and tenant caches before its next call.
    `jsonrpc(method, *params)` is a JSON-RPC call to the SBC (`call` bound to its socket)."""
    try:
        current = jsonrpc("htable.get", *ROUTING_GENERATION)["item"]["value"]
    except RpcError:
        current = 0  # never set since Kamailio started
    jsonrpc("htable.seti", *ROUTING_GENERATION, int(current) + 1)
