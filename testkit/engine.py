"""A Docker engine of the test run's own, inside its network namespace.

The compose stack uses host networking; started by an engine on the real host, its Kamailio would sit
on the host's network. This engine runs inside the suite's `unshare -n -m` namespace instead, so the
containers' "host" is that namespace: loopback only, nothing reaches the machine's network. The image
is built by the host's engine (`make image`, which has network for apt) and copied over its unix socket,
which a network namespace does not cut.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

HOST_ENGINE = "unix:///var/run/docker.sock"
DATA_ROOT = Path("/var/lib/sbc-test-docker")  # kept between runs: the image is copied only when it changed


class EngineError(RuntimeError):
    pass


def only_loopback() -> bool:
    return {name for _, name in socket.if_nameindex()} == {"lo"}


def docker(host: str, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], env={**os.environ, "DOCKER_HOST": host}, capture_output=True,
                          text=True, **kwargs)
    if check and done.returncode != 0:
        raise EngineError(f"docker {' '.join(args)}: {done.stderr.strip()[-500:]}")
    return done


def image_id(host: str, image: str) -> str | None:
    done = docker(host, "image", "inspect", "-f", "{{.Id}}", image, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


class IsolatedEngine:
    def __init__(self, data_root: Path = DATA_ROOT):
        if not only_loopback():
            raise EngineError("the test engine must run in the suite's own network namespace (make test)")
        if not shutil.which("dockerd"):
            raise EngineError("no dockerd: run `make image` (scripts/docker-engine.sh installs it)")
        self.data_root = data_root
        self.exec_root = Path(f"/run/sbc-test-docker-{os.getpid()}")
        self.host = f"unix://{self.exec_root}/docker.sock"
        self.log = data_root / "dockerd.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> IsolatedEngine:
        self.data_root.mkdir(parents=True, exist_ok=True)
        self.exec_root.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["dockerd", "--data-root", str(self.data_root / "data"), "--exec-root", str(self.exec_root),
                 "--host", self.host, "--pidfile", str(self.exec_root / "dockerd.pid"),
                 "--bridge=none", "--iptables=false", "--ip-masq=false"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while docker(self.host, "info", check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise EngineError(f"test dockerd did not start; see {self.log}")
            time.sleep(0.3)
        return self

    def copy_image(self, image: str) -> float:
        """Copy `image` from the host's engine unless this engine has the same one; seconds taken."""
        wanted = image_id(HOST_ENGINE, image)
        if wanted is None:
            raise EngineError(f"the host's Docker engine has no {image}: run `make image` first")
        if image_id(self.host, image) == wanted:
            return 0.0
        started = time.monotonic()
        save = subprocess.Popen(["docker", "save", image], env={**os.environ, "DOCKER_HOST": HOST_ENGINE},
                                stdout=subprocess.PIPE)
        docker(self.host, "load", "--quiet", stdin=save.stdout)
        if save.wait() != 0:
            raise EngineError(f"docker save {image} failed")
        docker(self.host, "image", "prune", "--force")  # the previous build's layers
        return time.monotonic() - started

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.exec_root, ignore_errors=True)
