"""Two SBC nodes on a LAN the suite makes itself (inside its own network namespace): a bridge with the
suite's side (MariaDB, Redis, the carrier and the gateway) and one veth per node into the node's namespace.
The service addresses move between the nodes as keepalived would move them (address, then neighbours told).

198.51.100.0/24 (TEST-NET-3) only: nothing here can reach any network outside the suite's namespace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from sbclib import settings as settings_mod
from stack import services
from testkit.suite import TEST_SETTINGS

NET = "198.51.100"
HUB = f"{NET}.1"  # the suite's end of the LAN: MariaDB, Redis
CARRIER = (f"{NET}.41", 5060)
GATEWAY = (f"{NET}.31", 5060)
STRANGER = f"{NET}.66"  # a scanner on the carriers' network
SERVICE = {"private": f"{NET}.10", "public": f"{NET}.20"}  # what carriers and gateways know of the SBC
NODES = {"a": f"{NET}.11", "b": f"{NET}.12"}
BRIDGE = "sbclan"


def ip(*argv: str, netns: str | None = None) -> None:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=10)


def in_netns(netns: str, *argv: str) -> None:
    subprocess.run(["ip", "netns", "exec", netns, *argv], check=True, capture_output=True, timeout=10)


class Lan:
    def __init__(self):
        self.holder: str | None = None  # the node holding the service addresses

    def build(self) -> Lan:
        ip("link", "add", BRIDGE, "type", "bridge")
        ip("link", "set", BRIDGE, "up")
        for address in (HUB, CARRIER[0], GATEWAY[0], STRANGER):
            ip("addr", "add", f"{address}/24", "dev", BRIDGE)
        return self

    def plug(self, name: str) -> None:
        """Node `name`'s namespace (made, or attached from a container, as netns(name)) on the LAN."""
        ns = netns(name)
        subprocess.run(["ip", "link", "del", f"veth-{name}"], capture_output=True, timeout=10)  # an old one
        ip("link", "add", f"veth-{name}", "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("link", "set", f"veth-{name}", "master", BRIDGE, "up")
        ip("addr", "add", f"{NODES[name]}/24", "dev", "eth0", netns=ns)
        ip("link", "set", "eth0", "up", netns=ns)
        ip("link", "set", "lo", "up", netns=ns)
        # rtpengine binds media on the service addresses before they arrive (keepalived setups do this)
        in_netns(ns, "sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1")
        if self.holder == name:
            self.holder = None  # a new namespace holds nothing yet

    def give(self, name: str) -> None:
        """The service addresses to node `name`; then everyone on the LAN forgets where they were (what
        keepalived's gratuitous ARP does)."""
        if self.holder is not None:
            for address in SERVICE.values():
                subprocess.run(["ip", "-n", netns(self.holder), "addr", "del", f"{address}/24", "dev", "eth0"],
                               capture_output=True, timeout=10)  # gone already when that node died
        for address in SERVICE.values():
            ip("addr", "add", f"{address}/24", "dev", "eth0", netns=netns(name))
        ip("neigh", "flush", "dev", BRIDGE)
        for other in NODES:
            subprocess.run(["ip", "-n", netns(other), "neigh", "flush", "dev", "eth0"], capture_output=True)
        self.holder = name

    def close(self) -> None:
        for name in NODES:
            subprocess.run(["ip", "netns", "del", netns(name)], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, timeout=10)


def netns(name: str) -> str:
    return f"sbc-{name}"


REDIS_PASSWORD = "pair-" + os.urandom(8).hex()  # the shared Redis is reached over the LAN: it asks for one
MEDIA_DB = {"a": "1", "b": "2"}  # each node's rtpengine writes its calls here and follows the other's


def node_env(name: str) -> dict[str, str]:
    peer = next(other for other in NODES if other != name)
    return {**shared_env(), "PRIVATE_IP": SERVICE["private"], "PUBLIC_IP": SERVICE["public"],
            "NODE_IP": NODES[name], "PEER_NODE_IP": NODES[peer], "MEDIA_REDIS_DB": MEDIA_DB[name],
            "PEER_MEDIA_REDIS_DB": MEDIA_DB[peer]}


IMAGE = "voice-ai-sbc:latest"
CONTAINER_RUN_DIR = "/var/lib/sbc"


class ImageNode:
    """A node from the shipped image (Kamailio 6.0): its rtpengine and Kamailio containers share the network
    namespace of a third that only holds it (as a host's NIC outlives its processes), plugged into the LAN.
    Runs on the suite's own Docker engine (the compose backend's)."""

    def __init__(self, name: str, run_dir: Path, lan: Lan):
        self.name, self.lan = name, lan
        self.env = {k: v for k, v in node_env(name).items() if k != "PATH"} | {"DROP_PRIVILEGES": "0"}
        self.settings = settings_mod.load(self.env)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        self.env_file = run_dir / "node.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.env.items()))
        self.holder, self.roles = f"pair-{name}-net", (f"pair-{name}-rtpengine", f"pair-{name}-kamailio")
        self.kamailio = _ContainerKamailio(self.roles[1])

    def start(self) -> ImageNode:
        if not _docker("ps", "-q", "--filter", f"name=^{self.holder}$").strip():
            _docker("rm", "-f", self.holder, check=False)
            _docker("run", "-d", "--name", self.holder, "--network", "none", "--sysctl",
                    "net.ipv4.ip_nonlocal_bind=1", "--entrypoint", "sleep", IMAGE, "infinity")
            pid = _docker("inspect", "-f", "{{.State.Pid}}", self.holder).strip()
            subprocess.run(["ip", "netns", "del", netns(self.name)], capture_output=True, timeout=10)
            ip("netns", "attach", netns(self.name), pid)
            self.lan.plug(self.name)
        for role, container in zip(("rtpengine", "kamailio"), self.roles, strict=True):
            _docker("rm", "-f", container, check=False)
            _docker("run", "-d", "--name", container, "--network", f"container:{self.holder}", "--cap-add",
                    "NET_ADMIN", "--cap-add", "SYS_NICE", "--env-file", str(self.env_file), IMAGE, role)
        deadline = time.monotonic() + 90
        while f"host: {self.settings.node_ip}" not in self.kamailio.rpc_or_empty("dmq.list_nodes"):
            if time.monotonic() > deadline or not self.kamailio.alive():
                raise RuntimeError(f"node {self.name} not up:\n{self.log_text()[-3000:]}")
            time.sleep(0.5)
        return self

    def stop(self) -> None:
        """Gracefully (SIGTERM to each launcher, as `docker stop` does), then gone."""
        for container in reversed(self.roles):
            _docker("stop", "-t", "20", container, check=False)
            self._keep_log(container)
            _docker("rm", "-f", container, check=False)

    def kill(self) -> None:
        """Like a lost machine: SIGKILL to everything it runs, at once."""
        _docker("kill", *self.roles)

    def alive(self) -> bool:
        """Does any of its processes run?"""
        return any(_docker("inspect", "-f", "{{.State.Running}}", c, check=False).strip() == "true"
                   for c in self.roles)

    def remove(self) -> None:
        self.stop()
        _docker("rm", "-f", self.holder, check=False)

    def log_text(self) -> str:
        kept = self.run_dir / "kamailio.log"  # what containers of earlier starts logged
        earlier = kept.read_text(errors="replace") if kept.exists() else ""
        return earlier + _docker("logs", self.roles[1], check=False, stderr_too=True)

    def _keep_log(self, container: str) -> None:
        if container == self.roles[1]:
            with open(self.run_dir / "kamailio.log", "a") as log:
                log.write(_docker("logs", container, check=False, stderr_too=True))


class _ContainerKamailio:
    name = "kamailio"

    def __init__(self, container: str):
        self.container = container

    def rpc(self, *args: str) -> str:
        return services.kamcmd(
            lambda argv: _docker("exec", self.container, "kamcmd", "-s", f"unix:{CONTAINER_RUN_DIR}/kamailio_ctl",
                                 *argv), *args)

    def rpc_or_empty(self, *args: str) -> str:
        try:
            return self.rpc(*args)
        except RuntimeError:
            return ""

    def alive(self) -> bool:
        return _docker("inspect", "-f", "{{.State.Running}}", self.container, check=False).strip() == "true"


def _docker(*args: str, check: bool = True, stderr_too: bool = False) -> str:
    """The docker CLI against the engine in DOCKER_HOST (the suite's own, set by the compose backend)."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}: {done.stderr.strip()[-800:]}")
    return done.stdout + (done.stderr if stderr_too else "")


def shared_env() -> dict[str, str]:
    return {"PATH": os.environ["PATH"], **TEST_SETTINGS, "DB_HOST": HUB, "REDIS_IP": HUB,
            "REDIS_PASSWORD": REDIS_PASSWORD}


class InNetns:
    """A launcher service whose process runs in a node's network namespace."""

    netns = ""

    def argv(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *super().argv()]

    def kill(self, wait: bool = True) -> None:
        """Die like a lost machine: SIGKILL, nothing written, nothing said."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(os.getpgid(self.proc.pid), signal.SIGKILL)
        if wait and self.proc is not None:
            self.proc.wait(5)


class NodeKamailio(InNetns, services.Kamailio):
    pass


class NodeRtpEngine(InNetns, services.RtpEngine):
    def start(self) -> None:
        self._spawn(self.argv())
        self._wait(lambda: (self.run_dir / "rtpengine.pid").exists(), 30)  # its ng port is in the node's netns


class Node:
    """A node from this host's packages, in a namespace of its own."""

    def __init__(self, name: str, run_dir: Path, lan: Lan):
        self.name, self.lan = name, lan
        self.env = node_env(name)
        self.settings = settings_mod.load(self.env)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        self.rtpengine = NodeRtpEngine(self.settings, run_dir, True)
        self.kamailio = NodeKamailio(self.settings, self.env, run_dir, True)
        self.rtpengine.netns = self.kamailio.netns = netns(name)

    def start(self) -> Node:
        if not Path("/run/netns", netns(self.name)).exists():
            ip("netns", "add", netns(self.name))
            self.lan.plug(self.name)
        (self.run_dir / "rtpengine.pid").unlink(missing_ok=True)
        self.rtpengine.start()
        self.kamailio.start()
        return self

    def log_text(self) -> str:
        return (self.run_dir / "kamailio.log").read_text(errors="replace")

    def stop(self) -> None:
        self.kamailio.stop()
        self.rtpengine.stop()

    def kill(self) -> None:
        """Both at once, as a lost machine loses them."""
        self.kamailio.kill(wait=False)
        self.rtpengine.kill(wait=False)
        self.kamailio.kill()
        self.rtpengine.kill()

    def alive(self) -> bool:
        """Does any of its processes run?"""
        return self.kamailio.alive() or self.rtpengine.alive()


DID = "4155550101"  # the pair's DID, to its gateway
TENANT, TENANT_DID = "pair-tenant", "4155550202"  # a tenant's DID: its call attempts are counted per second
ROWS = f"""
INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description) VALUES
 (1, 'sip:{GATEWAY[0]}:{GATEWAY[1]}', 0, 10, 'weight=100', 'the pair''s gateway'),
 (10, 'sip:{CARRIER[0]}:{CARRIER[1]}', 0, 10, 'weight=100;sockname=private', 'the pair''s carrier');
INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES
 (1, '{CARRIER[0]}', 32, 0, 'carriers'), (2, '{GATEWAY[0]}', 32, 0, NULL);
INSERT INTO tenant (name, enabled, gateway_group, allow_backup, max_calls, max_cps, callerid_policy, default_did)
 VALUES ('{TENANT}', 1, 1, 0, 10, 50, 'reject', NULL);
INSERT INTO did_routing (did, gateway_group, gateway_uri, tenant, description) VALUES
 ('+1{DID}', 1, NULL, '', 'the pair''s DID'), ('+1{TENANT_DID}', NULL, NULL, '{TENANT}', 'the pair''s tenant');
"""


class Shared:
    """MariaDB and Redis on the suite's side of the LAN, shared by both nodes."""

    def __init__(self, run_dir: Path):
        self.settings = settings_mod.load(shared_env())
        self.db = services.MariaDB(self.settings, run_dir, True)
        self.redis = services.Redis(self.settings, run_dir, True)

    def start(self) -> Shared:
        try:
            self.db.start()
            self.db.bootstrap(demo_data=False)
            self.db.sql(ROWS, self.settings.db_name)
            self.redis.start()
        except BaseException:
            self.stop()  # a Redis that did not start must not leave MariaDB running
            raise
        return self

    def stop(self) -> None:
        self.redis.stop()
        self.db.stop()
