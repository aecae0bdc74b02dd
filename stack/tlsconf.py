"""Kamailio's tls.cfg, written from .env (TLS_CERT, TLS_KEY, TLS_CA) at every start: the one source stays .env.

The public side serves TLS 1.2 or newer with our certificate; a connection we open to a gateway must show
a certificate that chains to TLS_CA (the handshake fails otherwise). The name in that certificate is
checked on what arrives over the connection (kemi/topology/tlspeer.py): Kamailio's tls module checks no host name.
"""

from __future__ import annotations

import os
from pathlib import Path

from sbclib.settings import ConfigError, Settings

NAME = "tls.cfg"


def check_files(settings: Settings) -> None:
    """Each file named in .env is readable, before Kamailio is started with it."""
    for field, path in (("TLS_CERT", settings.tls_cert), ("TLS_KEY", settings.tls_key), ("TLS_CA", settings.tls_ca)):
        if not os.access(path, os.R_OK) or not Path(path).is_file():
            raise ConfigError(field, f"{path} is not a readable file")


def render(settings: Settings) -> str:
    mine = f"certificate = {settings.tls_cert}\nprivate_key = {settings.tls_key}\n"
    return (
        "# Written by the SBC's launcher from .env at every start: edit .env, not this file.\n"
        "[server:default]\nmethod = TLSv1.2+\n" + mine
        + "verify_certificate = no\nrequire_certificate = no\n\n"
        # our certificate also serves a gateway that asks for a client certificate
        "[client:default]\nmethod = TLSv1.2+\n" + mine
        + f"verify_certificate = yes\nrequire_certificate = yes\nca_list = {settings.tls_ca}\nverify_depth = 9\n"
    )


def write(settings: Settings, run_dir: Path) -> Path:
    check_files(settings)
    path = run_dir / NAME
    path.write_text(render(settings))
    return path
