"""A certificate authority of the suite's own, for TLS on the public side: the SBC's certificate, and the
gateways' (right name, wrong name, or from a CA the SBC does not trust). Nothing here is trusted anywhere
but in this session's TLS_CA."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SBC_NAME = "sbc.tls.test"  # the name in the SBC's certificate, beside its public address
DAY = datetime.timedelta(days=1)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class Authority:
    def __init__(self, cn: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - DAY).not_valid_after(now + 7 * DAY)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, names: list[str]) -> tuple[bytes, bytes]:
        """(certificate, key) PEM for these DNS names or IP addresses; the first is also the CN."""
        key = ec.generate_private_key(ec.SECP256R1())
        san = []
        for name in names:
            try:
                san.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                san.append(x509.DNSName(name))
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - DAY).not_valid_after(now + 7 * DAY)
                .add_extension(x509.SubjectAlternativeName(san), critical=False)
                .sign(self.key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM), _pem(key)

    def write(self, directory: Path, stem: str, names: list[str]) -> Path:
        """<stem>.pem: certificate then key (baresip's sip_certificate); <stem>.crt/.key apart too."""
        cert, key = self.issue(names)
        for suffix, data in ((".crt", cert), (".key", key), (".pem", cert + key)):
            path = directory / f"{stem}{suffix}"
            path.write_bytes(data)
            path.chmod(0o644)  # test keys: readable by the user Kamailio runs as in the image
        return directory / f"{stem}.pem"


def prepare(directory: Path, public_ip: str) -> Authority:
    """ca.pem (the SBC's TLS_CA) and sbc.crt/sbc.key (its TLS_CERT/TLS_KEY) in `directory`."""
    ca = Authority("SBC test CA")
    (directory / "ca.pem").write_bytes(ca.pem)
    (directory / "ca.pem").chmod(0o644)
    ca.write(directory, "sbc", [SBC_NAME, public_ip])
    directory.chmod(0o755)
    return ca
