"""The one configuration source: environment variables (the launcher also reads `.env`).

Every field is validated on load; a bad value raises ConfigError naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import phonenumbers


class ConfigError(ValueError):
    """A configuration value is missing or malformed; `field` names the variable."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


LOOPBACK = "127.0.0.1"  # the loopback SIP socket (kamailio.cfg "local"), on METRICS_PORT
# Demo defaults: loopback only, so nothing leaves this host unless an operator says so.
DEFAULTS: dict[str, str] = {
    "PRIVATE_IP": "127.0.1.1",
    "PRIVATE_PORT": "5060",
    "PUBLIC_IP": "127.0.2.1",
    "PUBLIC_PORT": "5060",
    "DB_HOST": "127.0.0.1",
    "DB_PORT": "3306",
    "DB_NAME": "kamailio",
    "DB_USER": "kamailio",
    "DB_PASSWORD": "demo-only-change-me",
    "CALLID_MASK_KEY": "demo-only-change-me-callid-mask-key",
    "METRICS_IP": "127.0.0.1",
    "METRICS_PORT": "9494",
    "REDIS_IP": "127.0.0.1",
    "REDIS_PORT": "6379",
    "RTPENGINE_NG_IP": "127.0.0.1",
    "RTPENGINE_NG_PORT": "2223",
    "RTP_PORT_MIN": "30000",
    "RTP_PORT_MAX": "34999",
    "MEDIA_TIMEOUT": "60",
    "MEDIA_CHECK_INTERVAL": "2",
    "DEFAULT_REGION": "US",
    "TECH_PREFIXES": "",
    "DEFAULT_GATEWAY_GROUP": "",
    "CARRIER_GROUP": "10",
    "GATEWAY_GROUPS": "1,2,3",
    "DS_ALGORITHM": "9",
    "CARRIER_DS_ALGORITHM": "8",
    "BACKUP_GATEWAY_GROUP": "3",
    "GATEWAY_NO_REPLY_MS": "2000",
    "GATEWAY_NO_ANSWER_MS": "30000",
    "CARRIER_NO_REPLY_MS": "3000",
    "CARRIER_NO_ANSWER_MS": "120000",
    "DS_PING_INTERVAL": "10",
    "DS_PROBING_THRESHOLD": "3",
    "DS_INACTIVE_THRESHOLD": "1",
    "DS_PING_REPLY_CODES": "class=2;code=403;code=404;code=405;code=501",
    "DID_CACHE_TTL": "300",
    "DID_CACHE_NEGATIVE_TTL": "30",
    "DID_CACHE_SIZE": "100000",
    "DB_RETRY_AFTER": "5",
    "SNAPSHOT_DIR": "",
    "SNAPSHOT_INTERVAL": "10",
    "GATEWAY_DNS_INTERVAL": "10",
    "TLS_PORT": "5061",
    "TLS_CERT": "",
    "TLS_KEY": "",
    "TLS_CA": "/etc/ssl/certs/ca-certificates.crt",
    "UNKNOWN_PRIVATE_ACTION": "reject",
    "UNKNOWN_PUBLIC_ACTION": "drop",
    "AUTH_REALM": "voice-ai-sbc",
    "PIKE_WINDOW": "2",
    "PIKE_MAX_REQUESTS": "30",
    "BAN_SECONDS": "300",
    "SIP_WORKERS": "4",
    "DROP_PRIVILEGES": "0",
    "LOG_LEVEL": "2",
}


@dataclass(frozen=True)
class Settings:
    private_ip: str
    private_port: int
    public_ip: str
    public_port: int
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str
    callid_mask_key: str
    metrics_ip: str
    metrics_port: int
    redis_ip: str
    redis_port: int
    rtpengine_ng_ip: str
    rtpengine_ng_port: int
    rtp_port_min: int
    rtp_port_max: int
    media_timeout: int  # s without RTP from a leg that is due to send before the call is ended; 0 = never
    media_check_interval: int
    default_region: str
    tech_prefixes: tuple[str, ...]
    default_gateway_group: int | None
    carrier_group: int
    gateway_groups: tuple[int, ...]
    ds_algorithm: int
    carrier_ds_algorithm: int
    backup_gateway_group: int | None
    gateway_no_reply_ms: int
    gateway_no_answer_ms: int
    carrier_no_reply_ms: int
    carrier_no_answer_ms: int
    ds_ping_interval: int
    ds_probing_threshold: int
    ds_inactive_threshold: int
    ds_ping_reply_codes: str
    did_cache_ttl: int
    did_cache_negative_ttl: int
    did_cache_size: int
    db_retry_after: int
    snapshot_dir: str  # the last known configuration (kemi.snapshot); "" = <run dir>/snapshot (the launcher)
    snapshot_interval: int  # s between checks whether the configuration changed
    gateway_dns_interval: int  # s between resolutions of host-named gateways (their sending addresses)
    tls_port: int  # SIP over TLS on the public side, when tls_cert is set
    tls_cert: str  # PEM file: the public side's certificate (chain); "" = no TLS
    tls_key: str
    tls_ca: str  # PEM file of the CAs a gateway's certificate must chain to
    unknown_private_action: str
    unknown_public_action: str
    auth_realm: str
    pike_window: int
    pike_max_requests: int
    ban_seconds: int
    sip_workers: int
    drop_privileges: bool
    log_level: int

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    def socket_ip(self, side: str) -> str:
        return self.private_ip if side == "private" else self.public_ip

    def socket(self, side: str, proto: str = "udp") -> str:
        """Kamailio socket string of one side ("private" or "public"); TLS is the public side's, on TLS_PORT."""
        if proto == "tls" and side == "public" and self.tls:
            return f"tls:{self.public_ip}:{self.tls_port}"
        proto = "udp" if proto == "tls" else proto  # no TLS there: Kamailio picks by the destination's
        port = self.private_port if side == "private" else self.public_port
        return f"{proto}:{self.socket_ip(side)}:{port}"

    @property
    def db_url(self) -> str:
        return f"mysql://{self.db_user}:{self.db_password}@{self.db_host}:{self.db_port}/{self.db_name}"

    def kamailio_env(self) -> dict[str, str]:
        """The variables kamailio.cfg reads with #!defenv, all derived from these settings."""
        return {
            "PRIVATE_IP": self.private_ip,
            "PRIVATE_PORT": str(self.private_port),
            "PUBLIC_IP": self.public_ip,
            "PUBLIC_PORT": str(self.public_port),
            "METRICS_IP": self.metrics_ip,
            "METRICS_PORT": str(self.metrics_port),
            "DB_URL": self.db_url,
            "RTPENGINE_NG": f"udp:{self.rtpengine_ng_ip}:{self.rtpengine_ng_port}",
            "REDIS_SERVER": f"name=tps;addr={self.redis_ip};port={self.redis_port}",
            "DS_PING_INTERVAL": str(self.ds_ping_interval),
            "DS_PROBING_THRESHOLD": str(self.ds_probing_threshold),
            "DS_INACTIVE_THRESHOLD": str(self.ds_inactive_threshold),
            "DS_PING_REPLY_CODES": self.ds_ping_reply_codes,
            "SIP_WORKERS": str(self.sip_workers),
            "LOG_LEVEL": str(self.log_level),
            "IPBAN_HTABLE": f"ipban=>size=10;autoexpire={self.ban_seconds};",
            "PIKE_WINDOW": str(self.pike_window),
            "PIKE_MAX_REQUESTS": str(self.pike_max_requests),
            "CALLID_MASK_KEY": self.callid_mask_key,
            "MEDIA_TIMER": f"name=media;interval={self.media_check_interval};mode=1;",
            # db_cluster: MariaDB first; the snapshot's connection is added by the launcher (its path)
            "DB_CLUSTER_LIVE": f"live=>{self.db_url}",
            "SNAPSHOT_TIMER": f"name=snapshot;interval={self.snapshot_interval};mode=1;",
            # every second: the Python side paces itself (kemi.hostnames.Paced), resolving at once after a start
            "GATEWAY_DNS_TIMER": "name=gwdns;interval=1;mode=1;",
            "GATEWAY_DNS_INTERVAL": str(self.gateway_dns_interval),
            "TLS_PORT": str(self.tls_port),
        }


def _ip(field: str, value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ConfigError(field, f"not an IPv4 address: {value!r}") from None


def _int(field: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(field, f"not a whole number: {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(field, f"{number} is outside {low}..{high}")
    return number


def _port(field: str, value: str) -> int:
    return _int(field, value, 1, 65535)


def _group(field: str, value: str) -> int:
    return _int(field, value, 1, 9999)


def _groups(field: str, value: str) -> tuple[int, ...]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise ConfigError(field, "needs at least one dispatcher set id")
    return tuple(_group(field, v) for v in items)


_TECH_PREFIX = re.compile(r"^[0-9#*]{1,10}$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _directory(field: str, value: str) -> str:
    """An absolute path without characters that Kamailio's db URLs or db_text would read otherwise."""
    if value and (not value.startswith("/") or re.search(r"[\s;:=>]", value)):
        raise ConfigError(field, f"not an absolute path without spaces, ';', ':', '=' or '>': {value!r}")
    return value.rstrip("/") if len(value) > 1 else value


def _pem_file(field: str, value: str) -> str:
    """A path as Kamailio's tls.cfg takes it (one token); whether it is readable is the launcher's check."""
    if value and (not value.startswith("/") or re.search(r"[\s#=\[\]\"']", value)):
        raise ConfigError(field, f"not an absolute path without spaces, '#', '=', brackets or quotes: {value!r}")
    return value


def _realm(field: str, value: str) -> str:
    """The digest realm gateways' credentials are for: quoted in challenges, part of every stored HA1."""
    if not re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", value):
        raise ConfigError(field, "1 to 64 letters, digits, '.', '_', '@' or '-'")
    return value


def _tech_prefixes(field: str, value: str) -> tuple[str, ...]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    for item in items:
        if not _TECH_PREFIX.match(item):
            raise ConfigError(field, f"tech prefix {item!r} must be 1-10 of 0-9 # *")
    # Longest first, so that "99" never shadows "9912".
    return tuple(sorted(items, key=len, reverse=True))


def _region(field: str, value: str) -> str:
    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(field, f"unknown ISO 3166 region {value!r}")
    return region


def _name(field: str, value: str) -> str:
    if not _NAME.match(value):
        raise ConfigError(field, f"must be 1-64 of A-Z a-z 0-9 _ . - (got {value!r})")
    return value


_REPLY_CODES = re.compile(r"^(?:(?:class=[1-6]|code=[1-6][0-9]{2})(?:;|$))+$")


def _reply_codes(field: str, value: str) -> str:
    if not _REPLY_CODES.match(value):
        raise ConfigError(field, f"expected e.g. 'class=2;code=404' (got {value!r})")
    return value.rstrip(";")


def _optional_group(field: str, value: str) -> int | None:
    return _group(field, value) if value else None


def _choice(field: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(field, f"must be one of {', '.join(allowed)} (got {value!r})")
    return value


def _secret(field: str, value: str) -> str:
    if not value or any(c in value for c in "@/:'\"\\ "):
        raise ConfigError(field, "must be non-empty without @ / : quotes, backslash or spaces")
    return value


def _mask_key(field: str, value: str) -> str:
    # Goes into kamailio.cfg as a string: printable ASCII without quotes or backslash.
    if len(value) < 16 or not re.fullmatch(r"[!#-\[\]-~]+", value):
        raise ConfigError(field, "needs 16 or more printable characters, no spaces, quotes or backslash")
    return value


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `environ` (default: os.environ), falling back to DEFAULTS per variable."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str:
        return env.get(name, DEFAULTS[name]).strip()

    settings = Settings(
        private_ip=_ip("PRIVATE_IP", get("PRIVATE_IP")),
        private_port=_port("PRIVATE_PORT", get("PRIVATE_PORT")),
        public_ip=_ip("PUBLIC_IP", get("PUBLIC_IP")),
        public_port=_port("PUBLIC_PORT", get("PUBLIC_PORT")),
        db_host=_ip("DB_HOST", get("DB_HOST")),
        db_port=_port("DB_PORT", get("DB_PORT")),
        db_name=_name("DB_NAME", get("DB_NAME")),
        db_user=_name("DB_USER", get("DB_USER")),
        db_password=_secret("DB_PASSWORD", get("DB_PASSWORD")),
        callid_mask_key=_mask_key("CALLID_MASK_KEY", get("CALLID_MASK_KEY")),
        metrics_ip=_ip("METRICS_IP", get("METRICS_IP")),
        metrics_port=_port("METRICS_PORT", get("METRICS_PORT")),
        redis_ip=_ip("REDIS_IP", get("REDIS_IP")),
        redis_port=_port("REDIS_PORT", get("REDIS_PORT")),
        rtpengine_ng_ip=_ip("RTPENGINE_NG_IP", get("RTPENGINE_NG_IP")),
        rtpengine_ng_port=_port("RTPENGINE_NG_PORT", get("RTPENGINE_NG_PORT")),
        rtp_port_min=_port("RTP_PORT_MIN", get("RTP_PORT_MIN")),
        rtp_port_max=_port("RTP_PORT_MAX", get("RTP_PORT_MAX")),
        media_timeout=_int("MEDIA_TIMEOUT", get("MEDIA_TIMEOUT"), 0, 86400),
        media_check_interval=_int("MEDIA_CHECK_INTERVAL", get("MEDIA_CHECK_INTERVAL"), 1, 60),
        default_region=_region("DEFAULT_REGION", get("DEFAULT_REGION")),
        tech_prefixes=_tech_prefixes("TECH_PREFIXES", get("TECH_PREFIXES")),
        default_gateway_group=_optional_group("DEFAULT_GATEWAY_GROUP", get("DEFAULT_GATEWAY_GROUP")),
        carrier_group=_group("CARRIER_GROUP", get("CARRIER_GROUP")),
        gateway_groups=_groups("GATEWAY_GROUPS", get("GATEWAY_GROUPS")),
        ds_algorithm=_int("DS_ALGORITHM", get("DS_ALGORITHM"), 0, 13),
        carrier_ds_algorithm=_int("CARRIER_DS_ALGORITHM", get("CARRIER_DS_ALGORITHM"), 0, 13),
        backup_gateway_group=_optional_group("BACKUP_GATEWAY_GROUP", get("BACKUP_GATEWAY_GROUP")),
        gateway_no_reply_ms=_int("GATEWAY_NO_REPLY_MS", get("GATEWAY_NO_REPLY_MS"), 100, 60_000),
        gateway_no_answer_ms=_int("GATEWAY_NO_ANSWER_MS", get("GATEWAY_NO_ANSWER_MS"), 1000, 600_000),
        carrier_no_reply_ms=_int("CARRIER_NO_REPLY_MS", get("CARRIER_NO_REPLY_MS"), 100, 60_000),
        carrier_no_answer_ms=_int("CARRIER_NO_ANSWER_MS", get("CARRIER_NO_ANSWER_MS"), 1000, 600_000),
        ds_ping_interval=_int("DS_PING_INTERVAL", get("DS_PING_INTERVAL"), 1, 3600),
        ds_probing_threshold=_int("DS_PROBING_THRESHOLD", get("DS_PROBING_THRESHOLD"), 1, 100),
        ds_inactive_threshold=_int("DS_INACTIVE_THRESHOLD", get("DS_INACTIVE_THRESHOLD"), 1, 100),
        ds_ping_reply_codes=_reply_codes("DS_PING_REPLY_CODES", get("DS_PING_REPLY_CODES")),
        did_cache_ttl=_int("DID_CACHE_TTL", get("DID_CACHE_TTL"), 1, 86400),
        did_cache_negative_ttl=_int("DID_CACHE_NEGATIVE_TTL", get("DID_CACHE_NEGATIVE_TTL"), 0, 86400),
        did_cache_size=_int("DID_CACHE_SIZE", get("DID_CACHE_SIZE"), 1, 10_000_000),
        db_retry_after=_int("DB_RETRY_AFTER", get("DB_RETRY_AFTER"), 0, 3600),
        snapshot_dir=_directory("SNAPSHOT_DIR", get("SNAPSHOT_DIR")),
        snapshot_interval=_int("SNAPSHOT_INTERVAL", get("SNAPSHOT_INTERVAL"), 1, 3600),
        gateway_dns_interval=_int("GATEWAY_DNS_INTERVAL", get("GATEWAY_DNS_INTERVAL"), 1, 3600),
        tls_port=_port("TLS_PORT", get("TLS_PORT")),
        tls_cert=_pem_file("TLS_CERT", get("TLS_CERT")),
        tls_key=_pem_file("TLS_KEY", get("TLS_KEY")),
        tls_ca=_pem_file("TLS_CA", get("TLS_CA")),
        unknown_private_action=_choice("UNKNOWN_PRIVATE_ACTION", get("UNKNOWN_PRIVATE_ACTION"), ("reject", "drop")),
        unknown_public_action=_choice("UNKNOWN_PUBLIC_ACTION", get("UNKNOWN_PUBLIC_ACTION"), ("reject", "drop")),
        auth_realm=_realm("AUTH_REALM", get("AUTH_REALM")),
        pike_window=_int("PIKE_WINDOW", get("PIKE_WINDOW"), 1, 60),
        pike_max_requests=_int("PIKE_MAX_REQUESTS", get("PIKE_MAX_REQUESTS"), 2, 100_000),
        ban_seconds=_int("BAN_SECONDS", get("BAN_SECONDS"), 1, 86400),
        sip_workers=_int("SIP_WORKERS", get("SIP_WORKERS"), 1, 256),
        drop_privileges=bool(_int("DROP_PRIVILEGES", get("DROP_PRIVILEGES"), 0, 1)),
        log_level=_int("LOG_LEVEL", get("LOG_LEVEL"), -5, 5),
    )
    if settings.private_ip == settings.public_ip and settings.private_port == settings.public_port:
        raise ConfigError("PUBLIC_PORT", "the public socket must differ from the private socket")
    sip_sockets = {(settings.private_ip, settings.private_port), (settings.public_ip, settings.public_port)}
    if (settings.metrics_ip, settings.metrics_port) in sip_sockets or (LOOPBACK, settings.metrics_port) in sip_sockets:
        # 127.0.0.1:METRICS_PORT/udp is the SIP socket of neither side that tm builds its Call-IDs from
        raise ConfigError("METRICS_PORT", "the metrics socket must not be a SIP socket")
    if settings.drop_privileges and settings.db_password == DEFAULTS["DB_PASSWORD"]:
        raise ConfigError("DB_PASSWORD", "the demo password is refused in a deployment (DROP_PRIVILEGES=1)")
    if settings.drop_privileges and settings.callid_mask_key == DEFAULTS["CALLID_MASK_KEY"]:
        raise ConfigError("CALLID_MASK_KEY", "the demo key is public: set a secret one in a deployment "
                                             "(DROP_PRIVILEGES=1)")
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise ConfigError("TLS_KEY" if settings.tls_cert else "TLS_CERT", "TLS_CERT and TLS_KEY go together")
    if settings.tls and not settings.tls_ca:
        raise ConfigError("TLS_CA", "needed with TLS: the CAs gateways' certificates are checked against")
    if settings.tls and settings.tls_port in (settings.public_port, settings.metrics_port):
        raise ConfigError("TLS_PORT", "must differ from PUBLIC_PORT and METRICS_PORT (TCP listens there)")
    if settings.rtp_port_min >= settings.rtp_port_max:
        raise ConfigError("RTP_PORT_MAX", "must be greater than RTP_PORT_MIN")
    if settings.backup_gateway_group is not None and settings.backup_gateway_group not in settings.gateway_groups:
        raise ConfigError("BACKUP_GATEWAY_GROUP", "must be one of GATEWAY_GROUPS")
    if settings.carrier_group in settings.gateway_groups:
        raise ConfigError("CARRIER_GROUP", "must not be one of GATEWAY_GROUPS")
    return settings
