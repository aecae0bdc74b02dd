"""The integration suite's SBC as the shipped docker compose stack (SBC_BACKEND=compose), via testcontainers.

The image is the one `make image` built (Debian 13, Kamailio 6.0); docker-compose.yml is used as shipped,
with a test .env. It runs on the suite's own Docker engine (engine.py), so its host networking is this
namespace's loopback. Offers what the tests use of stack.Stack: settings, kamailio.rpc/jsonrpc/proc/
log_path, db.sql/query, stop/start/alive of each service, dead().
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import threading
import time
from pathlib import Path

from testcontainers.compose import DockerCompose

from sbclib import settings as settings_mod
from sbclib.rpc import RpcError
from stack import services
from testkit.engine import IsolatedEngine

REPO = Path(__file__).resolve().parents[2]
IMAGE = "voice-ai-sbc:latest"
PROJECT = "sbc-test"
RUN_DIR = "/var/lib/sbc"
DB_SOCKET = f"{RUN_DIR}/mariadb/mysqld.sock"
# One Python inside the Kamailio container for the suite's RPCs: a `docker compose exec` per call (the
# compose CLI, then Python's start) cost far more than the call, and the suite polls (dialogs, dispatcher).
# A line in, [kind, args]; a line out, {"ok": value} or {"rpc_error": text} or {"fail": text}.
RPC_SHELL = f"""
import json, subprocess, sys
from pathlib import Path
from sbclib import rpc
for line in sys.stdin:
    kind, args = json.loads(line)
    try:
        if kind == "jsonrpc":
            out = {{"ok": rpc.call(Path("{RUN_DIR}/rpc/kamailio_rpc.sock"), *args)}}
        else:
            done = subprocess.run(["kamcmd", "-s", "unix:{RUN_DIR}/kamailio_ctl", *args], capture_output=True,
                                  text=True, timeout=10)
            out = {{"ok": done.stdout}} if done.returncode == 0 else {{"fail": done.stderr or done.stdout}}
    except rpc.RpcError as exc:
        out = {{"rpc_error": str(exc)}}
    except Exception as exc:
        out = {{"fail": repr(exc)}}
    print(json.dumps(out), flush=True)
"""


class ComposeStack:
    def __init__(self, env: dict[str, str], workdir: Path):
        self.settings = settings_mod.load(env)
        self.env_file = workdir / "sbc.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items() if k != "PATH"))
        self.engine = IsolatedEngine()
        self.compose = DockerCompose(str(REPO), compose_file_name="docker-compose.yml", wait=True)
        self.db = _Db(self, "db")
        self.redis = _Service(self, "redis")
        self.rtpengine = _Service(self, "rtpengine")
        self.kamailio = _Kamailio(self, "kamailio")
        self.sbcctl_argv = [*self.compose_cmd, "exec", "-T", "kamailio", "python3", "-m", "sbcctl",
                            "--run-dir", RUN_DIR]
        self.timings: dict[str, float] = {}
        self.left_volumes: list[str] | None = None

    @property
    def compose_cmd(self) -> list[str]:
        return self.compose.compose_command_property

    def start(self) -> ComposeStack:
        self.engine.start()
        # Every compose call of this process (testcontainers' included) goes to the test engine.
        os.environ.update(DOCKER_HOST=self.engine.host, COMPOSE_PROJECT_NAME=PROJECT,
                          SBC_ENV_FILE=str(self.env_file))
        self.timings["image copy s"] = self.engine.copy_image(IMAGE)
        # A run that was killed leaves its containers (restart: unless-stopped) and volumes in the engine's
        # data root: start from nothing, so the database really is empty.
        self.run("down", "--volumes", "--remove-orphans")
        started = time.monotonic()
        try:
            self.compose.start()  # `up --wait`: every healthcheck green, on an empty database
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"compose up failed: {exc.stderr.decode()[-2000:]}\n{self.logs()[-6000:]}") from None
        self.timings["up to healthy s"] = time.monotonic() - started
        self.db.sql((REPO / "kamailio" / "demo-data.sql").read_text(), self.settings.db_name)
        self.kamailio.rpc("dispatcher.reload")
        self.kamailio.rpc("permissions.addressReload")
        return self

    def stop(self) -> None:
        """`down --volumes`; what it left behind is in `left_volumes`."""
        try:
            self.kamailio.shell.close()
            self.compose.stop()
            self.left_volumes = self.volumes()
        finally:
            self.engine.stop()

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([*self.compose_cmd, *args], input=stdin, capture_output=True, text=True,
                              cwd=REPO, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"docker compose {' '.join(args)}: {done.stderr.strip()[-1000:]}")
        return done

    def exec(self, service: str, *command: str, stdin: str | None = None, check: bool = True) -> str:
        return self.run("exec", "-T", service, *command, stdin=stdin, check=check).stdout

    def states(self) -> dict[str, dict]:
        out = self.run("ps", "--all", "--format", "json").stdout
        rows = []
        for line in out.splitlines():
            data = json.loads(line) if line.strip() else []
            rows += data if isinstance(data, list) else [data]
        return {row["Service"]: row for row in rows}

    def dead(self) -> list[str]:
        return [name for name, row in self.states().items() if row["State"] != "running"]

    def logs(self, service: str = "") -> str:
        return self.run("logs", "--no-log-prefix", *([service] if service else []), check=False).stdout

    def volumes(self) -> list[str]:
        return self.engine_docker("volume", "ls", "--quiet").split()

    def engine_docker(self, *args: str) -> str:
        return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


class _Service:
    def __init__(self, stack: ComposeStack, name: str):
        self.stack = stack
        self.name = name

    def stop(self) -> None:
        """`docker compose stop`: the role must stop its daemon itself and exit 0 (an unclean MariaDB, or
        Kamailio's dialogs not written, would otherwise pass unseen until the next start)."""
        self.stack.run("stop", self.name)
        code = self.stack.engine_docker("inspect", "-f", "{{.State.ExitCode}}", f"{PROJECT}-{self.name}-1").strip()
        if code != "0":
            raise RuntimeError(f"{self.name} stopped with exit code {code}:\n{self.stack.logs(self.name)[-3000:]}")

    def start(self) -> None:
        self.stack.run("start", self.name)
        deadline = time.monotonic() + 90
        while self.stack.states()[self.name].get("Health") != "healthy":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not healthy 90 s after start:\n{self.stack.logs(self.name)[-3000:]}")
            time.sleep(0.5)

    def alive(self) -> bool:
        return self.stack.states()[self.name]["State"] == "running"


class _Db(_Service):
    def sql(self, statements: str, database: str | None = None, check: bool = True) -> int:
        done = self.stack.run("exec", "-T", "db", "mariadb", f"--socket={DB_SOCKET}", "-uroot",
                              *([database] if database else []), stdin=statements, check=check)
        return done.returncode

    def query(self, statement: str, database: str, header: bool = True) -> str:
        return self.stack.exec("db", "mariadb", f"--socket={DB_SOCKET}", "-uroot", "--batch",
                               *([] if header else ["--skip-column-names"]), database, "-e", statement)


class _Kamailio(_Service):
    @property
    def proc(self):
        """The container's main process (changes only when the container restarts)."""
        pid = self.stack.engine_docker("inspect", "-f", "{{.State.Pid}}", f"{PROJECT}-kamailio-1").strip()
        return type("Proc", (), {"pid": int(pid)})()

    @property
    def log_path(self):
        stack = self

        class _Log:
            def read_text(self, errors: str = "strict") -> str:
                return stack.stack.logs("kamailio")
        return _Log()

    def rpc(self, *args: str) -> str:
        def run(argv: list[str]) -> str:
            out = self.shell.call("kamcmd", argv)
            if "fail" in out:
                raise RuntimeError(f"kamcmd {' '.join(argv)}: {out['fail'].strip()}")
            return out["ok"]

        return services.kamcmd(run, *args)

    def jsonrpc(self, method: str, *params):
        """As sbclib.rpc.call does on the host: an error answer raises RpcError."""
        out = self.shell.call("jsonrpc", [method, *params])
        if "rpc_error" in out:
            raise RpcError(out["rpc_error"])
        if "fail" in out:
            raise RuntimeError(f"jsonrpc {method}: {out['fail'][-1000:]}")
        return out["ok"]

    @property
    def shell(self) -> _RpcShell:
        if getattr(self, "_shell", None) is None:
            self._shell = _RpcShell(self.stack)
        return self._shell


class _RpcShell:
    """RPC_SHELL, running in the Kamailio container; started again when the container was (its process went
    with the old one), once per call."""

    def __init__(self, stack: ComposeStack):
        self.stack = stack
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def call(self, kind: str, args: list) -> dict:
        with self.lock:
            for _ in range(2):
                if self.proc is None or self.proc.poll() is not None:
                    self.proc = subprocess.Popen(
                        [*self.stack.compose_cmd, "exec", "-T", "kamailio", "python3", "-u", "-c", RPC_SHELL],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                        cwd=REPO)
                try:
                    self.proc.stdin.write(json.dumps([kind, args]) + "\n")
                    self.proc.stdin.flush()
                    ready, _, _ = select.select([self.proc.stdout], [], [], 60)
                    line = self.proc.stdout.readline() if ready else ""
                except OSError:
                    line = ""
                if line:
                    return json.loads(line)
                self.close()  # gone with its container (or stuck): the next attempt starts another
            return {"fail": "the RPC shell in the kamailio container did not answer (is the container up?)"}

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
