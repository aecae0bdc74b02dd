"""The real SBC (MariaDB + Redis + rtpengine + Kamailio with the shipped cfg, schema and demo data),
started once per test session inside a private network namespace, by one of two backends:

- host (default): the launcher's processes on this host's packages (`make run`'s path);
- SBC_BACKEND=compose: the shipped image under docker compose (compose_backend.py), the production path.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time

import pytest

from sbclib import ng, probes, rpc
from sbclib import settings as settings_mod
from stack.stack import Stack
from testkit.harness import (
    DEMO_GATEWAYS,
    gateways,
    host_of,
    remove_gateways_since,
    rtpengine_calls,
    wait_for,
    wait_state,
)
from testkit.suite import TEST_SETTINGS
from tests.integration import dns, tlsca

# Fast probing and a short per-attempt timer, so failover tests take seconds.


def pytest_collection_modifyitems(config, items):
    """Each backend runs the tests that apply to it; the others are deselected (not skipped, not passed)."""
    other = "host_only" if os.environ.get("SBC_BACKEND") == "compose" else "compose_only"
    kept = [item for item in items if other not in item.keywords]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if other in item.keywords])
        items[:] = kept


def _isolated_network() -> bool:
    return {name for _, name in socket.if_nameindex()} == {"lo"}


@pytest.fixture(scope="session")
def dns_zone(tmp_path_factory):
    """The suite's DNS server (tests/integration/dns.py), in place before any SBC process starts."""
    with dns.serving(tmp_path_factory.mktemp("dns")) as zone:
        yield zone


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory):
    """The suite's CA (tests/integration/tlsca.py), its directory holding the SBC's certificate and key."""
    directory = tmp_path_factory.mktemp("tls")
    return directory, tlsca.prepare(directory, settings_mod.DEFAULTS["PUBLIC_IP"])


def tls_settings(directory) -> dict[str, str]:
    """TLS from the suite's CA, which also stands for the STI-CA (test_stir.py signs with a certificate of its)."""
    return {"TLS_CERT": f"{directory}/sbc.crt", "TLS_KEY": f"{directory}/sbc.key", "TLS_CA": f"{directory}/ca.pem",
            "STIR_CA_FILE": f"{directory}/ca.pem"}


@pytest.fixture(scope="session")
def sbc(tmp_path_factory, dns_zone, tls_ca):
    if os.environ.get("SBC_BACKEND") == "compose":
        os.environ["TLS_DIR"] = str(tls_ca[0])  # docker-compose.yml mounts it at /etc/sbc/tls
        yield from _compose_sbc(tmp_path_factory)
        return
    if not _isolated_network() and os.environ.get("SBC_TEST_HOST_NETWORK") != "1":
        pytest.fail("integration tests run in their own network namespace: use `make test` "
                    "(or set SBC_TEST_HOST_NETWORK=1 to accept the host's loopback)")
    run_dir = tmp_path_factory.mktemp("sbc")
    env = {"PATH": os.environ["PATH"], **TEST_SETTINGS, **tls_settings(tls_ca[0])}
    stack = Stack(env, run_dir, demo_data=True, log_to_files=True)
    stack.start()  # raises (test error, never a skip) when a component cannot start
    yield stack
    stack.stop()
    leftovers = [s.name for s in stack.services if s.alive()]
    assert not leftovers, f"still running after stop: {leftovers}"


# The demo passwords are refused with privileges dropped; DROP_PRIVILEGES=0 in .env must not undo the drop.
COMPOSE_SETTINGS = {**TEST_SETTINGS, "DB_PASSWORD": "test-" + os.urandom(8).hex(),
                    "REDIS_PASSWORD": "test-redis-" + os.urandom(8).hex(),
                    "SBCCTL_DB_PASSWORD": "test-sbcctl-" + os.urandom(8).hex(),
                    "CALLID_MASK_KEY": "test-key-" + os.urandom(8).hex(), "DROP_PRIVILEGES": "0",
                    **tls_settings("/etc/sbc/tls")}


def _compose_sbc(tmp_path_factory):
    """The same suite against the shipped image under `docker compose up`, on an empty database."""
    from tests.integration.compose_backend import ComposeStack

    stack = ComposeStack(COMPOSE_SETTINGS, tmp_path_factory.mktemp("compose"))
    try:
        stack.start()  # raises (test error, never a skip) when the stack does not come up healthy
        print(f"\ncompose stack: {stack.timings}")
        yield stack
    finally:
        stack.stop()
    assert stack.left_volumes == [], f"volumes left after `down --volumes`: {stack.left_volumes}"


@pytest.fixture
def work(tmp_path):
    return tmp_path


@pytest.fixture
def quiet_sbc(sbc):
    """The SBC with no call left over from an earlier test, and none left after this one. A test that
    leaves a call fails (its teardown, naming each dialog's state); the call is then ended, so that one
    leak fails one test rather than every test after it."""
    assert wait_for(lambda: not active_dialogs(sbc), 15), f"dialogs left by an earlier test: {dialog_states(sbc)}"
    yield sbc
    try:
        assert wait_for(lambda: sbc.dead() == [] and not active_dialogs(sbc), 15), (
            f"dead: {sbc.dead()}, dialogs left (1 unconfirmed, 2 early, 3 answered without ACK, 4 confirmed): "
            f"{dialog_states(sbc)}")
    finally:
        left = active_dialogs(sbc)
        for h_entry, h_id in active_dialogs(sbc, handles=True):
            try:
                sbc.kamailio.rpc("dlg.end_dlg", h_entry, h_id)
            except RuntimeError:
                pass  # ended meanwhile
        for call_id in left:  # a dialog ended by RPC leaves its media session to rtpengine's own timeout
            ng.command(sbc.settings.rtpengine_ng_ip, sbc.settings.rtpengine_ng_port,
                       {"command": "delete", "call-id": call_id})
    if not wait_for(lambda: rtpengine_calls(sbc.settings) == [], 10):
        stale = rtpengine_calls(sbc.settings)  # a session whose dialog is gone: deleted, for the next test's sake
        for call_id in stale:
            ng.command(sbc.settings.rtpengine_ng_ip, sbc.settings.rtpengine_ng_port,
                       {"command": "delete", "call-id": call_id})
        pytest.fail(f"rtpengine sessions left behind: {stale}")


def _dialogs(sbc) -> list[dict[str, str]]:
    dialogs: list[dict[str, str]] = []
    for line in sbc.kamailio.rpc("dlg.list").splitlines():
        key, _, value = line.strip().partition(": ")
        if key == "h_entry":
            dialogs.append({})
        if dialogs and key in ("h_entry", "h_id", "call-id", "state", "init_ts", "start_ts") \
                and key not in dialogs[-1]:  # the legs' own fields come after the dialog's
            dialogs[-1][key] = value
    return dialogs


def active_dialogs(sbc, handles: bool = False) -> list:
    """Call-IDs (or h_entry, h_id) of dialogs not yet ended (state 5 = deleted, kept until tm's wait timer
    frees it)."""
    return [(d["h_entry"], d["h_id"]) if handles else d["call-id"] for d in _dialogs(sbc)
            if d.get("state", "").isdigit() and int(d["state"]) < 5]


def dialog_states(sbc) -> list[str]:
    now = int(time.time())
    return [f"{d.get('call-id')} state {d.get('state')} set up {now - int(d.get('init_ts', now))} s ago"
            for d in _dialogs(sbc)]


def kamailio_major(sbc) -> int:
    """5 on Debian 12 hosts, 6 in the image: Call-ID masking exists only on 6."""
    return int(re.search(r"kamailio (\d+)\.", sbc.kamailio.rpc("core.version")).group(1))


def rtpengine_version(sbc) -> tuple[int, ...] | None:
    """The version of the rtpengine this SBC runs (the image's, or the host's on the host path)."""
    if os.environ.get("SBC_BACKEND") == "compose":
        return probes.parse_rtpengine_version(sbc.exec("rtpengine", "sh", "-c", "rtpengine --version 2>&1"))
    return probes.rtpengine_version()


def db(sbc, sql: str) -> None:
    sbc.db.sql(sql, sbc.settings.db_name)


def new_routing_generation(sbc) -> None:
    """What sbcctl does after a DID change: every process empties its DID/tenant caches."""
    rpc.new_routing_generation(sbc.kamailio.jsonrpc)


@pytest.fixture
def sbcctl(quiet_sbc, tmp_path, tls_ca):
    """Runs sbcctl as an operator would (Debian's Python), against this session's SBC."""
    if hasattr(quiet_sbc, "sbcctl_argv"):  # compose: inside the kamailio container, as operators do
        argv = quiet_sbc.sbcctl_argv
    else:
        env_file = tmp_path / "sbc.env"
        env = {**TEST_SETTINGS, **tls_settings(tls_ca[0])}
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        argv = ["/usr/bin/python3", "-m", "sbcctl", "--env-file", str(env_file), "--run-dir",
                str(quiet_sbc.run_dir)]

    def run(*args, stdin: str | None = None):
        return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=60, input=stdin)
    return run


@pytest.fixture
def add_named(quiet_sbc, dns_zone, sbcctl):
    """For one test: `add_named(uri, *options)` adds a gateway named by host name to set 1 (whose demo
    gateways nobody answers) with sbcctl; afterwards its row and its name's DNS records are removed."""
    wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)
    before = {row["id"] for row in gateways(sbcctl)}
    hosts = []

    def add(uri: str, *options: str) -> None:
        done = sbcctl("gateway", "add", "--uri", uri, "--group", "1", *options)
        assert done.returncode == 0, done.stderr
        hosts.append(host_of(uri))

    yield add
    remove_gateways_since(sbcctl, before)
    dns_zone.remove(*hosts)
