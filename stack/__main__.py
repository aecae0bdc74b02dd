"""`python -m stack run`: the SBC on this host in the foreground; Ctrl-C stops it all."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from kemi.settings import ConfigError

from . import dotenv
from .services import REPO, StartError
from .stack import Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start MariaDB, rtpengine and Kamailio in the foreground")
    run.add_argument("--env-file", type=Path, default=REPO / ".env")
    run.add_argument("--run-dir", type=Path, default=REPO / "run")
    run.add_argument("--no-demo-data", action="store_true", help="do not load kamailio/demo-data.sql")
    args = parser.parse_args(argv)

    try:
        stack = Stack(dotenv.environment(args.env_file), args.run_dir.resolve(),
                      demo_data=not args.no_demo_data, log_to_files=False)
    except (ConfigError, ValueError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2

    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
    except StartError as exc:
        print(f"start failed: {exc}", file=sys.stderr)
        return 1
    s = stack.settings
    print(
        f"SBC up: private {s.socket('private')} (carriers), public {s.socket('public')} (AI gateways), "
        f"rtpengine ng {s.rtpengine_ng_ip}:{s.rtpengine_ng_port}, DB {s.db_host}:{s.db_port}/{s.db_name}\n"
        f"control: kamcmd -s unix:{stack.kamailio.ctl_socket} dispatcher.list   (Ctrl-C stops everything)",
        flush=True,
    )
    code = 0
    while not stopping:
        dead = stack.dead()
        if dead:
            print(f"{', '.join(dead)} exited; stopping the SBC", file=sys.stderr)
            code = 1
            break
        time.sleep(0.5)
    stack.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
