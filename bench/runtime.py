"""Where the bench's Kamailio runs: this host's package (`host`, Kamailio 5.6 on Debian 12) or the shipped
image (`image`, Debian 13 / Kamailio 6.0, host networking) on the bench's own Docker engine. MariaDB, Redis
and rtpengine are the host's in both, so the two runtimes differ only in Kamailio and its Python."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from stack.services import REPO, Kamailio, RtpEngine
from testkit.engine import IsolatedEngine, docker

IMAGE = "voice-ai-sbc:latest"


class _InImage:
    """A service's own argv run in the image instead (host networking, this checkout and the run directory
    mounted at the same paths); its environment is passed by name."""

    engine: IsolatedEngine | None = None
    docker_args: tuple[str, ...] = ()  # more for `docker run` (bench/profile.py: the host's PID namespace)

    @property
    def container(self) -> str:
        return f"bench-{self.name}-{os.getpid()}"

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        passed = [arg for key in (env or {}) if key != "PATH" for arg in ("-e", key)]
        docker_argv = ["docker", "run", "--rm", "--name", self.container, "--network", "host",
                       "--entrypoint", argv[0], "-v", f"{REPO}:{REPO}:ro", "-v", f"{self.run_dir}:{self.run_dir}",
                       *self.docker_args, *passed, IMAGE, *argv[1:]]
        super()._spawn(docker_argv, {**os.environ, **(env or {}), "DOCKER_HOST": self.engine.host})

    def stop(self, timeout: float = 10) -> None:
        docker(self.engine.host, "rm", "--force", self.container, check=False)
        super().stop(timeout)


class ImageKamailio(_InImage, Kamailio):
    def env(self) -> dict[str, str]:
        # The image says DROP_PRIVILEGES=1 (a deployment); the bench is not one (demo settings, switches).
        return {**super().env(), "DROP_PRIVILEGES": "0"}


class ImageRtpEngine(_InImage, RtpEngine):
    """Kamailio 6.0's rtpengine module speaks a newer ng protocol than Debian 12's daemon: the image's pair."""


def kamailio_class(runtime: str) -> type[Kamailio]:
    return ImageKamailio if runtime == "image" else Kamailio


def rtpengine(runtime: str, stack) -> RtpEngine:
    if runtime == "image":
        return ImageRtpEngine(stack.settings, stack.run_dir / "rtpengine-image", True)
    return RtpEngine(stack.settings, stack.run_dir, True)


def start_engine() -> IsolatedEngine:
    """The bench's own engine in its namespace; the image comes from the host's (`make image`)."""
    engine = IsolatedEngine(Path("/var/lib/sbc-bench-docker")).start()
    engine.copy_image(IMAGE)
    _InImage.engine = engine
    return engine


def version(runtime: str) -> str:
    argv = ["kamailio", "-v"]
    if runtime == "image":
        argv = ["docker", "run", "--rm", "--entrypoint", "kamailio", IMAGE, "-v"]
    env = {**os.environ, **({"DOCKER_HOST": _InImage.engine.host} if runtime == "image" else {})}
    out = subprocess.run(argv, capture_output=True, text=True, env=env).stdout
    return out.split("\n", 1)[0].removeprefix("version: ").strip()
