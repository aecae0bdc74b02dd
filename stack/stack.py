"""The whole SBC: MariaDB, then rtpengine, then Kamailio; stopped in reverse order."""

from __future__ import annotations

from pathlib import Path

from sbclib import settings as settings_mod
from stack.demo import DemoPeers
from stack.services import Api, Kamailio, MariaDB, Redis, RtpEngine


class Stack:
    def __init__(self, env: dict[str, str], run_dir: Path, demo_data: bool = True, log_to_files: bool = True):
        self.env = env
        self.settings = settings_mod.load(env)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        self.demo_data = demo_data
        self.db = MariaDB(self.settings, run_dir, log_to_files)
        self.redis = Redis(self.settings, run_dir, log_to_files)
        self.rtpengine = RtpEngine(self.settings, run_dir, log_to_files)
        self.kamailio = Kamailio(self.settings, env, run_dir, log_to_files)
        self.api = Api(self.settings, env, run_dir, log_to_files)
        self.peers = DemoPeers(self.settings, self.db, run_dir, log_to_files)  # `make run` only

    @property
    def services(self):
        return (self.db, self.redis, self.rtpengine, self.kamailio, self.api)

    def start(self) -> Stack:
        try:
            self.db.start()
            self.db.bootstrap(self.demo_data)
            self.redis.start()
            self.rtpengine.start()
            self.kamailio.start()
            self.api.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Every service, even when one of them fails to stop (the first failure is raised after)."""
        failed: BaseException | None = None
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception as exc:  # noqa: BLE001 - the others must still be stopped
                failed = failed or exc
        if failed is not None:
            raise failed

    def dead(self) -> list[str]:
        return [s.name for s in self.services if s.proc is not None and not s.alive()]

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
