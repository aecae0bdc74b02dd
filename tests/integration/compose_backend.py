"""The integration suite's SBC as the docker compose stack (SBC_BACKEND=compose), through testcontainers.

Offers the part of stack.Stack the tests use: settings, kamailio.rpc, db.sql, dead(). Needs a Docker
engine; without one the fixture skips with that reason (tests/deploy/test_compose_backend.py).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from types import SimpleNamespace

from kemi import settings as settings_mod

REPO = Path(__file__).resolve().parents[2]
RUN_DIR = "/var/lib/sbc"


class ComposeStack:
    def __init__(self, env: dict[str, str], workdir: Path):
        from testcontainers.compose import DockerCompose

        self.settings = settings_mod.load(env)
        self.env_file = workdir / "compose.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items() if k != "PATH"))
        self.compose = DockerCompose(str(REPO), compose_file_name="docker-compose.yml",
                                     env_file=str(self.env_file), build=True, wait=True)
        self.kamailio = SimpleNamespace(rpc=self._rpc, proc=SimpleNamespace(pid=None))
        self.db = SimpleNamespace(sql=self._sql)

    def start(self) -> ComposeStack:
        self.compose.start()
        self._sql((REPO / "kamailio" / "demo-data.sql").read_text(), self.settings.db_name)
        self._rpc("dispatcher.reload")
        self._rpc("permissions.addressReload")
        self.kamailio.proc.pid = self._container_pid("kamailio")
        return self

    def stop(self) -> None:
        self.compose.stop()

    @property
    def services(self):
        return ()

    def dead(self) -> list[str]:
        return [c.Service for c in self.compose.get_containers() if c.State != "running"]

    def _exec(self, service: str, command: list[str]) -> str:
        stdout, stderr, code = self.compose.exec_in_container(command, service_name=service)
        if code != 0:
            raise RuntimeError(f"{service}: {' '.join(command)}: {stderr}")
        return stdout

    def _rpc(self, *args: str) -> str:
        return self._exec("kamailio", ["kamcmd", "-s", f"unix:{RUN_DIR}/kamailio_ctl", *args])

    def _sql(self, statements: str, database: str | None = None, check: bool = True) -> int:
        client = f"mariadb --socket={RUN_DIR}/mariadb/mysqld.sock -uroot {database or ''}"
        self._exec("db", ["sh", "-c", f"{client} <<'SQL'\n{statements}\nSQL"])
        return 0

    def _container_pid(self, service: str) -> str:
        return self._exec(service, ["sh", "-c", "cat /proc/1/stat | cut -d' ' -f22"]).strip()


def docker_engine_available() -> tuple[bool, str]:
    import shutil
    import subprocess

    if not shutil.which("docker"):
        return False, "no docker CLI on this machine"
    done = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if done.returncode != 0:
        return False, f"no Docker engine answers: {shlex.quote(done.stderr.strip()[:200])}"
    return True, done.stdout.strip()
