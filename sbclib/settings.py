"""The one configuration source: environment variables (the launcher also reads `.env`).

Every field is validated on load; a bad value raises ConfigError naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from sbclib import codecs, fields, ringback
from sbclib.fields import ConfigError

UNKNOWN_ACTIONS = ("reject", "drop")  # what a stranger gets: a SIP answer, or silence
LOOPBACK = "127.0.0.1"  # the loopback SIP socket (kamailio.cfg "local"), on METRICS_PORT
PROBE_FROM = "sip:keepalive@sbc.invalid"  # every gateway probe's From: dispatcher's and kemi/gateways/gwprobe.py's
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
    "SBCCTL_DB_USER": "sbcctl",
    "SBCCTL_DB_PASSWORD": "demo-only-change-me-sbcctl",
    "CALLID_MASK_KEY": "demo-only-change-me-callid-mask-key",
    "METRICS_IP": "127.0.0.1",
    "METRICS_PORT": "9494",
    "API_IP": "127.0.0.1",
    "API_PORT": "9480",
    "API_TLS_CERT": "",
    "API_TLS_KEY": "",
    "REDIS_IP": "127.0.0.1",
    "REDIS_PORT": "6379",
    "REDIS_PASSWORD": "demo-only-change-me-redis",
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
    "GATEWAY_RETRY_AFTER_MAX": "300",
    "REGISTRATION_RETRY": "60",
    "STIR_CA_FILE": "",
    "STIR_X5U_PREFIXES": "https://",
    "STIR_MAX_AGE": "60",
    "RINGBACK_TONE": "440+480/2000,0/4000",
    "CARRIER_CODECS": "",
    "CARRIER_TRANSCODE": "0",
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
    "NODE_IP": "",
    "PEER_NODE_IP": "",
    "DMQ_PORT": "5090",
    "MEDIA_REDIS_DB": "",
    "PEER_MEDIA_REDIS_DB": "",
    "UNKNOWN_PRIVATE_ACTION": "reject",
    "UNKNOWN_PUBLIC_ACTION": "drop",
    "AUTH_REALM": "voice-ai-sbc",
    # Limits that hold by default (toll fraud): a tenant's 0 means these, never "unlimited"
    "TENANT_MAX_CALLS": "10",
    "TENANT_MAX_CPS": "2",
    "TENANT_MAX_DURATION": "14400",
    "OUTBOUND_MAX_CALLS": "100",
    "OUTBOUND_MAX_CPS": "10",
    "PIKE_WINDOW": "2",
    "PIKE_MAX_REQUESTS": "30",
    "BAN_SECONDS": "300",
    "SIP_WORKERS": "4",
    "SHM_MB": "256",
    "TCP_MAX_PER_SOURCE": "200",
    "CHALLENGE_MAX_PER_SOURCE": "20",
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
    # Kamailio's DB user reads the configuration and writes only call records and its dialogs at shutdown;
    # the configuration is written by sbcctl's own user (stack/services.py grants both).
    sbcctl_db_user: str
    sbcctl_db_password: str
    callid_mask_key: str
    metrics_ip: str
    metrics_port: int
    api_ip: str  # the provisioning API (sbcapi): a management address, never the public side
    api_port: int
    api_tls_cert: str  # PEM: the API's certificate; "" = plain HTTP, allowed on a loopback API_IP only
    api_tls_key: str
    redis_ip: str
    redis_port: int
    redis_password: str  # always one: any local process (or container on the host's network) can reach Redis
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
    gateway_retry_after_max: int  # s: the longest a peer's 429/503 Retry-After takes it out of its set
    registration_retry: int  # s before a refused or unanswered registration of the SBC's own is tried again
    stir_ca_file: str  # PEM of the STI-CAs a carrier's Identity must chain to; empty: no verification
    stir_x5u_prefixes: tuple[str, ...]  # URL prefixes an Identity's certificate may be fetched from
    stir_max_age: int  # s a PASSporT's iat may be old
    ringback_tone: tuple  # sbclib.ringback.Segment each: the cadence rtpengine plays for tenants with ringback
    carrier_codecs: tuple[str, ...]  # what offers toward the carriers may carry (sbclib.codecs); () = as offered
    carrier_transcode: bool  # rtpengine transcodes toward the carriers what they do not take
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
    snapshot_dir: str  # the last known configuration (sbclib.snapshot); "" = <run dir>/snapshot (the launcher)
    snapshot_interval: int  # s between checks whether the configuration changed
    gateway_dns_interval: int  # s between resolutions of host-named gateways (their sending addresses)
    tls_port: int  # SIP over TLS on the public side, when tls_cert is set
    tls_cert: str  # PEM file: the public side's certificate (chain); "" = no TLS
    tls_key: str
    tls_ca: str  # PEM file of the CAs a gateway's certificate must chain to
    node_ip: str  # this node's own address (never moves) in a pair; "" = a single SBC
    peer_node_ip: str  # a node already running, asked for the pair's state at start; "" = the first node
    dmq_port: int  # KDMQ between the nodes, on node_ip
    media_redis_db: int | None  # rtpengine writes its calls to this Redis database (a pair's media takeover)
    peer_media_redis_db: int | None  # ... and follows the other node's calls from this one
    unknown_private_action: str
    unknown_public_action: str
    auth_realm: str
    tenant_max_calls: int  # a tenant's concurrent calls when its row says 0
    tenant_max_cps: int  # ... call attempts per second
    tenant_max_duration: int  # ... s before its call is ended (BYE both ways)
    outbound_max_calls: int  # concurrent calls toward the carrier, all tenants together
    outbound_max_cps: int  # new calls per second toward the carrier, all tenants together (the pair's)
    pike_window: int
    pike_max_requests: int
    ban_seconds: int
    sip_workers: int
    shm_mb: int  # Kamailio's shared memory (-m): dialogs, transactions and, on 6.0, topos' state
    tcp_max_per_source: int  # TCP/TLS connections one address may hold open to the SBC (Kamailio 6.0)
    challenge_max_per_source: int  # digest challenges (407/401) one address is sent per second
    drop_privileges: bool
    log_level: int

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    @property
    def stir(self) -> bool:
        """Carriers' Identity headers are verified (kamailio.cfg loads secsipid)."""
        return bool(self.stir_ca_file)

    @property
    def carrier_codec_policy(self) -> codecs.Policy:
        return codecs.Policy(self.carrier_codecs, self.carrier_transcode)

    @property
    def clustered(self) -> bool:
        return bool(self.node_ip)

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
        hold = 3 * self.ds_ping_interval  # s, 3 probe rounds: how long the probes' verdicts outlive them
        return {
            "PRIVATE_IP": self.private_ip,
            "PRIVATE_PORT": str(self.private_port),
            "PUBLIC_IP": self.public_ip,
            "PUBLIC_PORT": str(self.public_port),
            "METRICS_IP": self.metrics_ip,
            "METRICS_PORT": str(self.metrics_port),
            "DB_URL": self.db_url,
            "RTPENGINE_NG": f"udp:{self.rtpengine_ng_ip}:{self.rtpengine_ng_port}",
            "REDIS_SERVER": f"name=tps;addr={self.redis_ip};port={self.redis_port};pass={self.redis_password}",
            "DS_PING_INTERVAL": str(self.ds_ping_interval),
            "DS_PROBING_THRESHOLD": str(self.ds_probing_threshold),
            "DS_INACTIVE_THRESHOLD": str(self.ds_inactive_threshold),
            "DS_PING_REPLY_CODES": self.ds_ping_reply_codes,
            "SIP_WORKERS": str(self.sip_workers),
            "TCP_MAX_PER_SOURCE": str(self.tcp_max_per_source),
            "LOG_LEVEL": str(self.log_level),
            "PIKE_WINDOW": str(self.pike_window),
            "PIKE_MAX_REQUESTS": str(self.pike_max_requests),
            "CALLID_MASK_KEY": self.callid_mask_key,
            "MEDIA_TIMER": f"name=media;interval={self.media_check_interval};mode=1;",
            # db_cluster: MariaDB first; the snapshot's connection is added by the launcher (its path)
            "DB_CLUSTER_LIVE": f"live=>{self.db_url}",
            "SNAPSHOT_TIMER": f"name=snapshot;interval={self.snapshot_interval};mode=1;",
            # every second: the Python side paces itself (kemi.gateways.hostnames.Paced), resolving at once after a
            # start
            "GATEWAY_DNS_TIMER": "name=gwdns;interval=1;mode=1;",
            "GATEWAY_DNS_INTERVAL": str(self.gateway_dns_interval),
            "GATEWAY_TARGET_HOLD": str(hold),  # a down target stays blocklisted
            "PROBE_FROM": PROBE_FROM,
            # the SBC's own registrations (sbcctl registration): each row names its side; this is uac's default
            "REGISTRATION_CONTACT": f"{self.public_ip}:{self.public_port}",
            "REGISTRATION_RETRY": str(self.registration_retry),
            # secsipid (WITH_STIR): certificates must be in date and chain to STIR_CA_FILE (CertVerify 1|4)
            "STIR_CA_OPT": f"CertCAFile={self.stir_ca_file}",
            "STIR_VERIFY_OPT": "CertVerify=5",
            "STIR_MAX_AGE": str(self.stir_max_age),
            # the names probed target by target (kemi/gateways/gwprobe.py), renewed every round: one no longer probed
            # goes back to dispatcher's probes within 3 rounds, even after a hot reload forgot it
            "GWNAMES_HTABLE": f"gwnames=>size=6;autoexpire={hold};",
            "TLS_PORT": str(self.tls_port),
            **self._cluster_env(),
        }

    def replicated_tables(self) -> tuple[str, ...]:
        """The htables a pair shares over KDMQ (kemi/state/cluster.py drops a KDMQ naming any other)."""
        return tuple(v.split("=>", 1)[0] for v in self._cluster_env().values() if "dmqreplicate=1" in v)

    def _cluster_env(self) -> dict[str, str]:
        """DMQ's addresses, and htables whose content the pair shares (dmqreplicate) or keeps per node."""
        shared = ";dmqreplicate=1" if self.clustered else ""
        env = {"IPBAN_HTABLE": f"ipban=>size=10;autoexpire={self.ban_seconds}{shared};",
               # initval: htable's inc adds no missing item to a table without one (sht_inc answered
               # "no value" to every call's first attempt of a second: the rate limit never held)
               "TENANTCPS_HTABLE": f"tenantcps=>size=10;autoexpire=3;initval=0{shared};",
               "SBCSTATE_HTABLE": f"sbcstate=>size=4{shared};",
               # per peer row (kemi/gateways/capacity.py): calls per second, and a 429/503's Retry-After hold
               "GWLOAD_HTABLE": f"gwload=>size=8;autoexpire=3;initval=0{shared};",
               # topos' state on Kamailio 6.0 (kamailio.cfg): a dialog's for longer than any call may last, a
               # branch's as topos keeps it in Redis (branch_expire). Alone, the dialogs' part is written
               # through the DB cluster at shutdown and read at start; in a pair the other node keeps a copy.
               "TOPOS_DIALOG_HTABLE": f"topos_dialog=>size=14;autoexpire={TOPOS_DIALOG_SECONDS}"
                                      + (shared if self.clustered else ";dbtable=topos_dialog;dbmode=1") + ";",
               "TOPOS_BRANCH_HTABLE": "topos_branch=>size=14;autoexpire=180;"}
        if self.clustered:
            server = f"sip:{self.node_ip}:{self.dmq_port}"
            env |= {"NODE_IP": self.node_ip, "DMQ_PORT": str(self.dmq_port), "DMQ_SERVER": server,
                    "CDR_SQLCON": f"cdr=>{self.db_url}",  # records of calls adopted from the other node
                    # the first node names itself: DMQ then waits for the others to announce themselves
                    "DMQ_NOTIFY": f"sip:{self.peer_node_ip}:{self.dmq_port}" if self.peer_node_ip else server}
        return env


TOPOS_DIALOG_SECONDS = 86400 + 600  # the longest TENANT_MAX_DURATION, and its BYEs


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `environ` (default: os.environ), falling back to DEFAULTS per variable."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str:
        return env.get(name, DEFAULTS[name]).strip()

    settings = Settings(
        private_ip=fields.ip("PRIVATE_IP", get("PRIVATE_IP")),
        private_port=fields.port("PRIVATE_PORT", get("PRIVATE_PORT")),
        public_ip=fields.ip("PUBLIC_IP", get("PUBLIC_IP")),
        public_port=fields.port("PUBLIC_PORT", get("PUBLIC_PORT")),
        db_host=fields.ip("DB_HOST", get("DB_HOST")),
        db_port=fields.port("DB_PORT", get("DB_PORT")),
        db_name=fields.name("DB_NAME", get("DB_NAME")),
        db_user=fields.name("DB_USER", get("DB_USER")),
        db_password=fields.secret("DB_PASSWORD", get("DB_PASSWORD")),
        sbcctl_db_user=fields.name("SBCCTL_DB_USER", get("SBCCTL_DB_USER")),
        sbcctl_db_password=fields.secret("SBCCTL_DB_PASSWORD", get("SBCCTL_DB_PASSWORD")),
        callid_mask_key=fields.mask_key("CALLID_MASK_KEY", get("CALLID_MASK_KEY")),
        metrics_ip=fields.ip("METRICS_IP", get("METRICS_IP")),
        metrics_port=fields.port("METRICS_PORT", get("METRICS_PORT")),
        api_ip=fields.ip("API_IP", get("API_IP")),
        api_port=fields.port("API_PORT", get("API_PORT")),
        api_tls_cert=fields.pem_file("API_TLS_CERT", get("API_TLS_CERT")),
        api_tls_key=fields.pem_file("API_TLS_KEY", get("API_TLS_KEY")),
        redis_ip=fields.ip("REDIS_IP", get("REDIS_IP")),
        redis_port=fields.port("REDIS_PORT", get("REDIS_PORT")),
        redis_password=fields.redis_secret("REDIS_PASSWORD", get("REDIS_PASSWORD")),
        rtpengine_ng_ip=fields.ip("RTPENGINE_NG_IP", get("RTPENGINE_NG_IP")),
        rtpengine_ng_port=fields.port("RTPENGINE_NG_PORT", get("RTPENGINE_NG_PORT")),
        rtp_port_min=fields.port("RTP_PORT_MIN", get("RTP_PORT_MIN")),
        rtp_port_max=fields.port("RTP_PORT_MAX", get("RTP_PORT_MAX")),
        media_timeout=fields.whole("MEDIA_TIMEOUT", get("MEDIA_TIMEOUT"), 0, 86400),
        media_check_interval=fields.whole("MEDIA_CHECK_INTERVAL", get("MEDIA_CHECK_INTERVAL"), 1, 60),
        default_region=fields.region("DEFAULT_REGION", get("DEFAULT_REGION")),
        tech_prefixes=fields.tech_prefixes("TECH_PREFIXES", get("TECH_PREFIXES")),
        default_gateway_group=fields.optional_group("DEFAULT_GATEWAY_GROUP", get("DEFAULT_GATEWAY_GROUP")),
        carrier_group=fields.group("CARRIER_GROUP", get("CARRIER_GROUP")),
        gateway_groups=fields.groups("GATEWAY_GROUPS", get("GATEWAY_GROUPS")),
        ds_algorithm=fields.whole("DS_ALGORITHM", get("DS_ALGORITHM"), 0, 13),
        carrier_ds_algorithm=fields.whole("CARRIER_DS_ALGORITHM", get("CARRIER_DS_ALGORITHM"), 0, 13),
        backup_gateway_group=fields.optional_group("BACKUP_GATEWAY_GROUP", get("BACKUP_GATEWAY_GROUP")),
        gateway_no_reply_ms=fields.whole("GATEWAY_NO_REPLY_MS", get("GATEWAY_NO_REPLY_MS"), 100, 60_000),
        gateway_no_answer_ms=fields.whole("GATEWAY_NO_ANSWER_MS", get("GATEWAY_NO_ANSWER_MS"), 1000, 600_000),
        gateway_retry_after_max=fields.whole("GATEWAY_RETRY_AFTER_MAX", get("GATEWAY_RETRY_AFTER_MAX"), 0, 86400),
        registration_retry=fields.whole("REGISTRATION_RETRY", get("REGISTRATION_RETRY"), 5, 3600),
        stir_ca_file=fields.pem_file("STIR_CA_FILE", get("STIR_CA_FILE")),
        stir_x5u_prefixes=fields.url_prefixes("STIR_X5U_PREFIXES", get("STIR_X5U_PREFIXES")),
        stir_max_age=fields.whole("STIR_MAX_AGE", get("STIR_MAX_AGE"), 5, 3600),
        ringback_tone=ringback.cadence("RINGBACK_TONE", get("RINGBACK_TONE")),
        carrier_codecs=fields.codec_list("CARRIER_CODECS", get("CARRIER_CODECS")),
        carrier_transcode=bool(fields.whole("CARRIER_TRANSCODE", get("CARRIER_TRANSCODE"), 0, 1)),
        carrier_no_reply_ms=fields.whole("CARRIER_NO_REPLY_MS", get("CARRIER_NO_REPLY_MS"), 100, 60_000),
        carrier_no_answer_ms=fields.whole("CARRIER_NO_ANSWER_MS", get("CARRIER_NO_ANSWER_MS"), 1000, 600_000),
        ds_ping_interval=fields.whole("DS_PING_INTERVAL", get("DS_PING_INTERVAL"), 1, 3600),
        ds_probing_threshold=fields.whole("DS_PROBING_THRESHOLD", get("DS_PROBING_THRESHOLD"), 1, 100),
        ds_inactive_threshold=fields.whole("DS_INACTIVE_THRESHOLD", get("DS_INACTIVE_THRESHOLD"), 1, 100),
        ds_ping_reply_codes=fields.reply_codes("DS_PING_REPLY_CODES", get("DS_PING_REPLY_CODES")),
        did_cache_ttl=fields.whole("DID_CACHE_TTL", get("DID_CACHE_TTL"), 1, 86400),
        did_cache_negative_ttl=fields.whole("DID_CACHE_NEGATIVE_TTL", get("DID_CACHE_NEGATIVE_TTL"), 0, 86400),
        did_cache_size=fields.whole("DID_CACHE_SIZE", get("DID_CACHE_SIZE"), 1, 10_000_000),
        db_retry_after=fields.whole("DB_RETRY_AFTER", get("DB_RETRY_AFTER"), 0, 3600),
        snapshot_dir=fields.directory("SNAPSHOT_DIR", get("SNAPSHOT_DIR")),
        snapshot_interval=fields.whole("SNAPSHOT_INTERVAL", get("SNAPSHOT_INTERVAL"), 1, 3600),
        gateway_dns_interval=fields.whole("GATEWAY_DNS_INTERVAL", get("GATEWAY_DNS_INTERVAL"), 1, 3600),
        tls_port=fields.port("TLS_PORT", get("TLS_PORT")),
        tls_cert=fields.pem_file("TLS_CERT", get("TLS_CERT")),
        tls_key=fields.pem_file("TLS_KEY", get("TLS_KEY")),
        tls_ca=fields.pem_file("TLS_CA", get("TLS_CA")),
        node_ip=fields.ip("NODE_IP", get("NODE_IP")) if get("NODE_IP") else "",
        peer_node_ip=fields.ip("PEER_NODE_IP", get("PEER_NODE_IP")) if get("PEER_NODE_IP") else "",
        dmq_port=fields.port("DMQ_PORT", get("DMQ_PORT")),
        media_redis_db=fields.optional_number("MEDIA_REDIS_DB", get("MEDIA_REDIS_DB"), 1, 15),
        peer_media_redis_db=fields.optional_number("PEER_MEDIA_REDIS_DB", get("PEER_MEDIA_REDIS_DB"), 1, 15),
        unknown_private_action=fields.choice("UNKNOWN_PRIVATE_ACTION", get("UNKNOWN_PRIVATE_ACTION"), UNKNOWN_ACTIONS),
        unknown_public_action=fields.choice("UNKNOWN_PUBLIC_ACTION", get("UNKNOWN_PUBLIC_ACTION"), UNKNOWN_ACTIONS),
        auth_realm=fields.realm("AUTH_REALM", get("AUTH_REALM")),
        tenant_max_calls=fields.whole("TENANT_MAX_CALLS", get("TENANT_MAX_CALLS"), 1, 100_000),
        tenant_max_cps=fields.whole("TENANT_MAX_CPS", get("TENANT_MAX_CPS"), 1, 10_000),
        tenant_max_duration=fields.whole("TENANT_MAX_DURATION", get("TENANT_MAX_DURATION"), 10, 86400),
        outbound_max_calls=fields.whole("OUTBOUND_MAX_CALLS", get("OUTBOUND_MAX_CALLS"), 1, 1_000_000),
        outbound_max_cps=fields.whole("OUTBOUND_MAX_CPS", get("OUTBOUND_MAX_CPS"), 1, 100_000),
        pike_window=fields.whole("PIKE_WINDOW", get("PIKE_WINDOW"), 1, 60),
        pike_max_requests=fields.whole("PIKE_MAX_REQUESTS", get("PIKE_MAX_REQUESTS"), 2, 100_000),
        ban_seconds=fields.whole("BAN_SECONDS", get("BAN_SECONDS"), 1, 86400),
        sip_workers=fields.whole("SIP_WORKERS", get("SIP_WORKERS"), 1, 256),
        shm_mb=fields.whole("SHM_MB", get("SHM_MB"), 64, 65536),
        tcp_max_per_source=fields.whole("TCP_MAX_PER_SOURCE", get("TCP_MAX_PER_SOURCE"), 1, 100_000),
        challenge_max_per_source=fields.whole("CHALLENGE_MAX_PER_SOURCE", get("CHALLENGE_MAX_PER_SOURCE"), 1, 100_000),
        drop_privileges=bool(fields.whole("DROP_PRIVILEGES", get("DROP_PRIVILEGES"), 0, 1)),
        log_level=fields.whole("LOG_LEVEL", get("LOG_LEVEL"), -5, 5),
    )
    if settings.private_ip == settings.public_ip and settings.private_port == settings.public_port:
        raise ConfigError("PUBLIC_PORT", "the public socket must differ from the private socket")
    sip_sockets = {(settings.private_ip, settings.private_port), (settings.public_ip, settings.public_port)}
    if (settings.metrics_ip, settings.metrics_port) in sip_sockets or (LOOPBACK, settings.metrics_port) in sip_sockets:
        # 127.0.0.1:METRICS_PORT/udp is the SIP socket of neither side that tm builds its Call-IDs from
        raise ConfigError("METRICS_PORT", "the metrics socket must not be a SIP socket")
    for field, ip in (("RTPENGINE_NG_IP", settings.rtpengine_ng_ip), ("REDIS_IP", settings.redis_ip),
                      ("METRICS_IP", settings.metrics_ip), ("API_IP", settings.api_ip)):
        if ip in (settings.public_ip, "0.0.0.0"):  # the value refused, never one bound
            # rtpengine's control port, Redis and the metrics answer anyone who reaches them
            raise ConfigError(field, "must not be reachable from the public side (PUBLIC_IP or 0.0.0.0)")
    if settings.sbcctl_db_user == settings.db_user:
        raise ConfigError("SBCCTL_DB_USER", "must differ from DB_USER (Kamailio's user may not write the "
                                            "configuration)")
    for field, value in (("DB_PASSWORD", settings.db_password), ("SBCCTL_DB_PASSWORD", settings.sbcctl_db_password),
                         ("REDIS_PASSWORD", settings.redis_password)):
        if settings.drop_privileges and value == DEFAULTS[field]:
            raise ConfigError(field, "the demo password is refused in a deployment (DROP_PRIVILEGES=1)")
    if settings.drop_privileges and settings.callid_mask_key == DEFAULTS["CALLID_MASK_KEY"]:
        raise ConfigError("CALLID_MASK_KEY", "the demo key is public: set a secret one in a deployment "
                                             "(DROP_PRIVILEGES=1)")
    if bool(settings.api_tls_cert) != bool(settings.api_tls_key):
        raise ConfigError("API_TLS_KEY" if settings.api_tls_cert else "API_TLS_CERT",
                          "API_TLS_CERT and API_TLS_KEY go together")
    if not settings.api_tls_cert and not settings.api_ip.startswith("127."):
        raise ConfigError("API_IP", "the API's tokens cross the network only over TLS: set API_TLS_CERT and "
                                    "API_TLS_KEY, or keep API_IP on loopback")
    if (settings.api_ip, settings.api_port) in sip_sockets or settings.api_port == settings.metrics_port:
        raise ConfigError("API_PORT", "must differ from the SIP sockets and METRICS_PORT")
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise ConfigError("TLS_KEY" if settings.tls_cert else "TLS_CERT", "TLS_CERT and TLS_KEY go together")
    if settings.tls and not settings.tls_ca:
        raise ConfigError("TLS_CA", "needed with TLS: the CAs gateways' certificates are checked against")
    if settings.tls and settings.tls_port in (settings.public_port, settings.metrics_port):
        raise ConfigError("TLS_PORT", "must differ from PUBLIC_PORT and METRICS_PORT (TCP listens there)")
    _check_cluster(settings)
    if settings.rtp_port_min >= settings.rtp_port_max:
        raise ConfigError("RTP_PORT_MAX", "must be greater than RTP_PORT_MIN")
    if settings.backup_gateway_group is not None and settings.backup_gateway_group not in settings.gateway_groups:
        raise ConfigError("BACKUP_GATEWAY_GROUP", "must be one of GATEWAY_GROUPS")
    if settings.carrier_transcode and not settings.carrier_codecs:
        raise ConfigError("CARRIER_TRANSCODE", "transcoding toward the carriers needs CARRIER_CODECS (what they take)")
    if settings.carrier_group in settings.gateway_groups:
        raise ConfigError("CARRIER_GROUP", "must not be one of GATEWAY_GROUPS")
    return settings


def _check_cluster(settings: Settings) -> None:
    if settings.peer_node_ip and not settings.clustered:
        raise ConfigError("PEER_NODE_IP", "needs NODE_IP (this node's own address)")
    if settings.clustered and settings.node_ip in (settings.private_ip, settings.public_ip):
        # the service addresses move between the nodes; the bus must not move with them
        raise ConfigError("NODE_IP", "must be the node's own address, not PRIVATE_IP or PUBLIC_IP")
    if settings.clustered and settings.peer_node_ip == settings.node_ip:
        raise ConfigError("PEER_NODE_IP", "is another node's address, not NODE_IP")
    own, peer = settings.media_redis_db, settings.peer_media_redis_db
    if (own is None) != (peer is None):
        raise ConfigError("PEER_MEDIA_REDIS_DB" if own else "MEDIA_REDIS_DB", "MEDIA_REDIS_DB and "
                          "PEER_MEDIA_REDIS_DB go together")
    if own is not None and not settings.clustered:
        raise ConfigError("MEDIA_REDIS_DB", "needs NODE_IP: media replication is between the nodes of a pair")
    if own is not None and own == peer:
        raise ConfigError("PEER_MEDIA_REDIS_DB", "is the other node's database, not MEDIA_REDIS_DB")
