"""TLS toward the gateways: the name a connection we open must present, and the SNI it asks with.

Kamailio's tls module checks that a gateway's certificate chains to TLS_CA (tls.cfg) but no host name.
So every message that arrives over a TLS connection on which the peer showed a certificate (one we
opened: the public side asks no client certificate) is checked here: the certificate must name the
gateway the source address belongs to (RFC 6125: DNS names of the subjectAltName, the CN only where
there are none, a wildcard for one leftmost label; an IP address only as an IP subjectAltName). A message
that fails is dropped: the probe or the call's attempt times out, and the call fails over.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

import KSR

from kemi.gateways import hostnames
from kemi.telemetry import metrics
from kemi.topology.hiding import log
from sbclib import policy
from sbclib.policy import named

TLS = "tls"
SNI = "$xavp(tls=>server_name)"  # tls module parameter xavp_cfg "tls"


def name_matches(expected: str, presented: str) -> bool:
    """RFC 6125 6.4: case-insensitive; '*' only as the whole leftmost label, standing for exactly one."""
    expected, presented = expected.lower().rstrip("."), presented.lower().rstrip(".")
    if not presented.startswith("*."):
        return expected == presented
    label, _, rest = expected.partition(".")
    return bool(label) and rest == presented[2:] and "." in rest


@lru_cache(maxsize=256)
def certificate_names(pem: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(DNS names, IP addresses) a certificate is for; the CN stands in for the DNS names only without any."""
    from cryptography import x509  # loaded once, by the first TLS message
    from cryptography.x509.oid import ExtensionOID, NameOID

    cert = x509.load_pem_x509_certificate(pem.encode())
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    if not dns:
        dns = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
    return dns, ips


def verified(expected: list[str], dns: tuple[str, ...], ips: tuple[str, ...]) -> bool:
    """One expected name (or address) is among what the certificate is for."""
    for name in expected:
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            if any(name_matches(name, presented) for presented in dns):
                return True
            continue
        if any(ipaddress.ip_address(ip) == address for ip in ips):
            return True
    return False


# ---- Kamailio's side -------------------------------------------------------------------------------

def ask_for_name(destination: str) -> None:
    """Before a request is relayed over TLS: the SNI of a connection tm may open for it (dispatcher's probes
    open theirs without one). A failed attempt's name is not carried to the next destination."""
    if policy.transport(destination) != TLS:
        return
    KSR.pv.unset("$xavp(tls)")
    target = named(destination)  # an address has no name to ask for
    if target is not None:
        KSR.pv.sets(SNI, target.host)


def refusal(side: str | None) -> str | None:
    """"certificate name" when the current message came over a TLS connection whose certificate names
    neither the gateway its source resolves from nor its address; None otherwise."""
    if KSR.pv.get("$pr") != TLS:
        return None
    pem = KSR.pv.get("$tls_peer_raw_cert")
    if not isinstance(pem, str) or not pem.strip():
        return None  # a connection the peer opened: no certificate asked; identified as over UDP/TCP
    src = KSR.kx.get_srcip()
    expected = [*hostnames.hosts_of(src), src]
    try:
        dns, ips = certificate_names(pem)
    except ValueError:
        dns, ips = (), ()
    if verified(expected, dns, ips):
        return None
    log(KSR.warn, f"tls: {src} presented a certificate for {', '.join((*dns, *ips)) or 'no name'}, "
                  f"not for {', '.join(expected)}: dropped")
    metrics.tls_refused(side or "unknown", "certificate name")
    return "certificate name"
