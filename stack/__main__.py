"""The SBC's launcher.

    python -m stack run          MariaDB + Redis + rtpengine + Kamailio in the foreground (make run), with
                                 SIPp peers standing in for the demo gateways and carriers
    python -m stack call [NUMBER]  one demo call from a demo carrier, printed hop by hop (make call)
    python -m stack db|redis|rtpengine|kamailio   one of them in the foreground (one container each)
    python -m stack health db|redis|rtpengine|sip  exit 0 when that part answers (container healthchecks)

Ctrl-C / SIGTERM stops what it started.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from sbclib import dotenv, ng
from sbclib.settings import ConfigError
from stack import demo, sipprobe
from stack.services import REPO, Service, StartError, api_answers
from stack.stack import Stack


def serve(stack: Stack, services: list[Service], bootstrap_db: bool) -> int:
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for service in services:
            service.start()
            if service is stack.db and bootstrap_db:
                stack.db.bootstrap(stack.demo_data)
    except StartError as exc:
        print(f"start failed: {exc}", file=sys.stderr)
        for service in reversed(services):
            service.stop()
        return 1
    s = stack.settings
    print(f"{', '.join(svc.name for svc in services)} up; Ctrl-C stops", flush=True)
    if stack.kamailio in services:
        print(f"SIP: private {s.socket('private')} (carriers), public {s.socket('public')} (AI gateways); "
              f"control: kamcmd -s unix:{stack.kamailio.ctl_socket} dispatcher.list; "
              f"metrics: http://{s.metrics_ip}:{s.metrics_port}/metrics", flush=True)
    if stack.api in services:
        scheme = "https" if s.api_tls_cert else "http"
        print(f"provisioning API: {scheme}://{s.api_ip}:{s.api_port}/v1 (tokens: sbcctl token add; schema: "
              f"/v1/openapi.json)", flush=True)
    if stack.peers in services:
        print(f"demo peers (SIPp) answer as gateways/carriers: {len(stack.peers.procs)}; "
              f"place a call from another shell: make call", flush=True)
    code = 0
    while not stopping:
        dead = [s.name for s in services if not s.alive()]
        if dead:
            print(f"{', '.join(dead)} exited; stopping", file=sys.stderr)
            code = 1
            break
        time.sleep(0.5)
    for service in reversed(services):
        service.stop()
    return code


def health(stack: Stack, part: str) -> int:
    s = stack.settings
    if part == "db":
        ok = stack.db.sql("SELECT 1", check=False) == 0
    elif part == "redis":
        ok = stack.redis.ping()
    elif part == "rtpengine":
        ok = ng.ping(s.rtpengine_ng_ip, s.rtpengine_ng_port)
    elif part == "api":
        ok = api_answers(s)
    elif s.clustered:  # the service addresses may be on the other node: this node's bus must list it
        ok = stack.kamailio.ready()
    else:
        ok = all(sipprobe.options(ip, port) == 200
                 for ip, port in ((s.private_ip, s.private_port), (s.public_ip, s.public_port)))
    print(f"{part}: {'ok' if ok else 'not answering'}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-file", type=Path, default=REPO / ".env")
    parser.add_argument("--run-dir", type=Path, default=REPO / "run")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="MariaDB, Redis, rtpengine, Kamailio and the API in the foreground")
    run.add_argument("--no-demo-data", action="store_true",
                     help="do not load kamailio/demo-data.sql (and start no demo peers)")
    place = sub.add_parser("call", help="one demo call through the running SBC (`make run`), hop by hop")
    place.add_argument("number", nargs="?", default=demo.DEMO_NUMBER)
    db = sub.add_parser("db", help="MariaDB with the schema applied")
    db.add_argument("--demo-data", action="store_true", help="also load kamailio/demo-data.sql")
    sub.add_parser("redis", help="Redis (topology-hiding state) alone")
    sub.add_parser("rtpengine", help="rtpengine alone")
    sub.add_parser("kamailio", help="Kamailio alone (MariaDB and rtpengine must answer)")
    sub.add_parser("api", help="the provisioning API alone (Kamailio's control socket must be shared with it)")
    check = sub.add_parser("health", help="exit 0 when the part answers")
    check.add_argument("part", choices=["db", "redis", "rtpengine", "sip", "api"])
    args = parser.parse_args(argv)

    demo_run = args.command == "run" and not args.no_demo_data  # demo rows, and peers answering as them
    with_demo = demo_run or (args.command == "db" and args.demo_data)
    try:
        stack = Stack(dotenv.environment(args.env_file), args.run_dir.resolve(), demo_data=with_demo,
                      log_to_files=False)
    except (ConfigError, ValueError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "health":
        return health(stack, args.part)
    if args.command == "call":
        return demo.call(stack.settings, stack.run_dir, args.number)
    with_peers = [*stack.services, stack.peers] if demo_run else list(stack.services)
    services = {"run": with_peers, "db": [stack.db], "redis": [stack.redis],
                "rtpengine": [stack.rtpengine],
                "kamailio": [stack.kamailio], "api": [stack.api]}[args.command]
    code = serve(stack, services, bootstrap_db=True)
    if code == 0 and args.command == "run":
        print("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
