"""MariaDB, rtpengine and Kamailio as child processes, each in its own process group."""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from sbclib import ng, ringback, rpc, snapshot
from sbclib.probes import redis_ping
from sbclib.settings import ConfigError, Settings
from stack import sipprobe, tlsconf

REPO = Path(__file__).resolve().parent.parent
KAMAILIO_DIR = REPO / "kamailio"


class StartError(RuntimeError):
    pass


def _chown(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


class Service:
    name = "service"

    def __init__(self, run_dir: Path, log_to_files: bool):
        self.run_dir = run_dir
        self.log_to_files = log_to_files
        self.proc: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        out = open(self.log_path, "ab") if self.log_to_files else None
        self.proc = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT if out else None,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        if out:
            out.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _wait(self, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise StartError(f"{self.name} exited with {self.proc.returncode}; see {self._where()}")
            if ready():
                return
            time.sleep(0.1)
        raise StartError(f"{self.name} not ready after {timeout:.0f}s; see {self._where()}")

    def _where(self) -> str:
        return str(self.log_path) if self.log_to_files else "the output above"

    def stop(self, timeout: float = 10) -> None:
        if not self.alive():
            return
        try:
            pgid = os.getpgid(self.proc.pid)
        except ProcessLookupError:  # exited meanwhile
            return
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(5)
        # Kamailio's children may outlive the main process by a moment: reap the whole group.
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class MariaDB(Service):
    name = "mariadb"

    def __init__(self, settings: Settings, run_dir: Path, log_to_files: bool):
        super().__init__(run_dir, log_to_files)
        self.settings = settings
        self.datadir = run_dir / "mariadb"
        self.socket = self.datadir / "mysqld.sock"

    def start(self) -> None:
        for tool in ("mariadbd", "mariadb-install-db", "mariadb"):
            if not shutil.which(tool) and not Path("/usr/sbin", tool).exists():
                raise StartError(f"{tool} not found: run `make deps`")
        s = self.settings
        user = "mysql" if s.drop_privileges else "root"
        self.datadir.mkdir(parents=True, exist_ok=True)
        if s.drop_privileges:
            subprocess.run(["chown", "-R", f"{user}:", str(self.datadir)], check=True)
        if not (self.datadir / "mysql").exists():
            subprocess.run(
                ["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}",
                 "--auth-root-authentication-method=socket", "--skip-test-db", f"--user={user}"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        self._spawn([
            "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.datadir}",
            f"--socket={self.socket}", f"--port={s.db_port}", f"--bind-address={s.db_host}",
            f"--user={user}", f"--pid-file={self.datadir}/mysqld.pid", "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=2",
            "--max-connections=1000", f"--log-error={self.datadir}/error.log",
        ])
        self._wait(lambda: self.sql("SELECT 1", check=False) == 0, 60)

    def sql(self, statements: str, database: str | None = None, check: bool = True) -> int:
        argv = ["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "--batch"]
        if database:
            argv.append(database)
        done = subprocess.run(argv, input=statements.encode(), capture_output=True)
        if check and done.returncode != 0:
            raise StartError(f"SQL failed: {done.stderr.decode().strip()}")
        return done.returncode

    def query(self, statement: str, database: str, header: bool = True) -> str:
        """Tab-separated result of one statement (first line the column names unless header=False)."""
        argv = ["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "--batch",
                *([] if header else ["--skip-column-names"]), database, "-e", statement]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise StartError(f"SQL failed: {done.stderr.strip()}")
        return done.stdout

    def lock_root(self) -> None:
        """MariaDB's root only through the local socket, as the OS user root: no password to guess and
        nothing over TCP, where (host networking) any local process could try. Also mends data
        directories made by earlier versions, whose root@127.0.0.1 had an empty password."""
        others = self.query("SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.user "
                            "WHERE (User = 'root' AND Host <> 'localhost') OR User = ''", "mysql", header=False)
        statements = [f"DROP USER {account};" for account in others.split()]
        self.sql("\n".join([*statements, "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket;"]))

    def bootstrap(self, demo_data: bool) -> None:
        """Database, application user and schema (idempotent), then optional example rows."""
        s = self.settings
        self.lock_root()
        self.sql(f"CREATE DATABASE IF NOT EXISTS `{s.db_name}`;")
        self.sql((KAMAILIO_DIR / "schema.sql").read_text(), s.db_name)
        self.sql("\n".join(grants(s)))
        if demo_data:
            self.sql((KAMAILIO_DIR / "demo-data.sql").read_text(), s.db_name)


class Redis(Service):
    """Topology-hiding state (topos), local to the SBC, persisted so a restart keeps calls routable."""

    name = "redis"

    def __init__(self, settings: Settings, run_dir: Path, log_to_files: bool):
        super().__init__(run_dir, log_to_files)
        self.settings = settings
        self.datadir = run_dir / "redis"

    def start(self) -> None:
        s = self.settings
        self.datadir.mkdir(parents=True, exist_ok=True)
        if s.drop_privileges:
            subprocess.run(["chown", "-R", "redis:", str(self.datadir)], check=True)
        # The password goes in a file only its user reads (an argument would show in ps); a pair's rtpengines
        # follow each other's calls through keyspace notifications (K: keyspace, g$: DEL/EXPIRE and SET).
        conf = self.datadir / "redis.conf"
        conf.unlink(missing_ok=True)  # redis' own from the last start: root may not chmod it (no CAP_FOWNER)
        conf.write_text(f"requirepass {s.redis_password}\n")
        conf.chmod(0o600)
        if s.drop_privileges:
            subprocess.run(["chown", "redis:", str(conf)], check=True)
        argv = ["redis-server", str(conf), "--bind", s.redis_ip, "--port", str(s.redis_port),
                "--dir", str(self.datadir), "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
                "--protected-mode", "yes", "--notify-keyspace-events", "Kg$", "--daemonize", "no",
                "--loglevel", "warning"]
        if s.drop_privileges:
            argv = ["setpriv", "--reuid=redis", "--regid=redis", "--init-groups", *argv]
        self._spawn(argv)
        self._wait(self.ping, 30)

    def ping(self) -> bool:
        try:
            return redis_ping(self.settings.redis_ip, self.settings.redis_port, password=self.settings.redis_password)
        except OSError:
            return False


# Least privilege (a flaw in call handling must not rewrite who may call): Kamailio reads the configuration,
# inserts call records, and writes its dialogs (and, on 6.0, topos' state of them) at shutdown to load them at
# start (dialog db_mode 3);
# sbcctl changes rows but no table. Re-granted at every start: a data directory from before keeps no more.
KAMAILIO_WRITES = {"sbc_cdr": "INSERT", "dialog": "INSERT, UPDATE, DELETE", "dialog_vars": "INSERT, UPDATE, DELETE",
                   "topos_dialog": "INSERT, DELETE"}


def grants(s: Settings) -> list[str]:
    db = f"`{s.db_name}`"
    statements = []
    for user, password in ((s.db_user, s.db_password), (s.sbcctl_db_user, s.sbcctl_db_password)):
        statements += [f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}';",
                       f"ALTER USER '{user}'@'%' IDENTIFIED BY '{password}';",
                       f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{user}'@'%';"]
    statements.append(f"GRANT SELECT ON {db}.* TO '{s.db_user}'@'%';")
    statements += [f"GRANT {what} ON {db}.`{table}` TO '{s.db_user}'@'%';" for table, what in KAMAILIO_WRITES.items()]
    statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {db}.* TO '{s.sbcctl_db_user}'@'%';")
    return statements


def db_answers(settings: Settings, timeout: float = 1.0) -> bool:
    """True when MariaDB accepts the SBC's own login (what Kamailio's modules will try)."""
    import pymysql  # the launcher's other roles need no DB driver
    try:
        pymysql.connect(host=settings.db_host, port=settings.db_port, user=settings.db_user,
                        password=settings.db_password, database=settings.db_name, connect_timeout=timeout).close()
        return True
    except pymysql.MySQLError:
        return False


class RtpEngine(Service):
    name = "rtpengine"

    def __init__(self, settings: Settings, run_dir: Path, log_to_files: bool):
        super().__init__(run_dir, log_to_files)
        self.settings = settings

    def config_file(self) -> Path:
        """The shipped rtpengine.conf; in a pair with media takeover, a copy naming the Redis databases
        (which carry the Redis password: not on the command line)."""
        s = self.settings
        shipped = KAMAILIO_DIR / "rtpengine.conf"
        if s.media_redis_db is None:
            return shipped
        conf = self.run_dir / "rtpengine.conf"
        conf.write_text(shipped.read_text() + (
            f"redis = {s.redis_password}@{s.redis_ip}:{s.redis_port}/{s.media_redis_db}\n"
            f"subscribe-keyspace = {s.peer_media_redis_db}\n"
            "no-redis-required = true\n"))  # media before replication: a Redis outage costs only the takeover
        conf.chmod(0o600)
        return conf

    def argv(self) -> list[str]:
        s = self.settings
        return [
            "rtpengine", "--foreground", "--log-stderr",
            f"--config-file={self.config_file()}",
            f"--pidfile={self.run_dir / 'rtpengine.pid'}",
            f"--interface=private/{s.private_ip}",
            f"--interface=public/{s.public_ip}",
            f"--listen-ng={s.rtpengine_ng_ip}:{s.rtpengine_ng_port}",
            f"--port-min={s.rtp_port_min}", f"--port-max={s.rtp_port_max}",
        ]

    def start(self) -> None:
        write_ringback(self.settings, self.run_dir)
        self._spawn(self.argv())
        s = self.settings
        self._wait(lambda: ng.ping(s.rtpengine_ng_ip, s.rtpengine_ng_port, 0.3), 30)


def ringback_file(run_dir: Path) -> Path:
    """The ringback rtpengine plays (sbclib/ringback.py): in its own run directory, which is Kamailio's path
    too (one directory on a host; /var/lib/sbc in each container)."""
    return run_dir / "ringback.wav"


def write_ringback(settings: Settings, run_dir: Path) -> None:
    """RINGBACK_TONE rendered for rtpengine, which reads it at each call that plays it."""
    target = ringback_file(run_dir)
    partial = target.with_suffix(".partial")
    partial.write_bytes(ringback.wav(settings.ringback_tone))
    partial.chmod(0o644)
    partial.replace(target)


def start_id() -> int:
    """A fresh Kamailio server_id for each start. The rtpengine module's ng cookies are server_id, PID and a
    per-process counter from 0, and rtpengine answers a cookie it has seen (its cache keeps them ~30 s) with
    the cached reply. In a container the PIDs repeat from one start to the next, so with a fixed server_id
    the first offers after a restart got another call's old SDP back, or a delete's reply (make bench saw
    half the calls fail)."""
    return secrets.randbelow(2**31 - 1) + 1  # server_id is a C int; 0 would mean 'unset' to sruid


def dmq_nodes(listing: str) -> list[dict[str, str]]:
    """`kamcmd dmq.list_nodes` as one dict per node (host, port, status, local, ...)."""
    nodes: list[dict[str, str]] = []
    for line in listing.splitlines():
        key, colon, value = line.strip().partition(": ")
        if key == "host":
            nodes.append({})
        if colon and nodes:
            nodes[-1][key] = value
    return nodes


class Kamailio(Service):
    name = "kamailio"

    def __init__(self, settings: Settings, env: dict[str, str], run_dir: Path, log_to_files: bool,
                 cfg: Path = KAMAILIO_DIR / "kamailio.cfg", defines: tuple[str, ...] = ()):
        super().__init__(run_dir, log_to_files)
        self.settings = settings
        self.base_env = env
        self.cfg = cfg  # the bench swaps in its native reference
        self.defines = defines  # -A NAME for kamailio.cfg's #!ifdef (the bench's feature switches)
        self.ctl_socket = run_dir / "kamailio_ctl"
        self.rpc_socket = rpc.socket_path(run_dir)  # in a directory of its own: compose shares it with the API
        self.snapshot_dir = Path(settings.snapshot_dir) if settings.snapshot_dir else run_dir / "snapshot"
        self.from_snapshot = False  # started while MariaDB did not answer
        self._db_watch = threading.Event()  # set: stop watching for MariaDB's return
        self._restarting = False
        self._restart_lock = threading.Lock()  # a stop waits for a restart under way

    def env(self) -> dict[str, str]:
        return {
            **self.base_env,
            **self.settings.kamailio_env(),
            "SERVER_ID": str(start_id()),
            "KEMI_ENTRY": str(REPO / "kemi" / "entry.py"),
            "CTL_SOCKET": f"unix:{self.ctl_socket}",
            "JSONRPC_SOCKET": str(self.rpc_socket),
            "RPC_SOCKET_USER": self.user,
            "RPC_SOCKET_GROUP": self.group,
            "SNAPSHOT_DIR": str(self.snapshot_dir),
            "DB_CLUSTER_SNAPSHOT": f"snapshot=>text://{self.snapshot_dir}",
            "TLS_CFG": str(self.run_dir / tlsconf.NAME),
            "STIR_CACHE_DIR": str(self.stir_cache),
            "RINGBACK_FILE": str(ringback_file(self.run_dir)),  # kemi/gateways/ringback.py
        }

    @property
    def stir_cache(self) -> Path:
        """Where secsipid keeps the certificates it fetched (an hour each)."""
        return self.run_dir / "stir-cache"

    @property
    def user(self) -> str:
        return "kamailio" if self.settings.drop_privileges else pwd.getpwuid(os.getuid()).pw_name

    @property
    def group(self) -> str:
        return "kamailio" if self.settings.drop_privileges else grp.getgrgid(os.getgid()).gr_name

    def argv(self) -> list[str]:
        # -x tlsf: Kamailio's default allocator (qm) took ~20 % of its CPU under load (perf); make bench.
        argv = [
            "kamailio", "-DD", "-E", "-f", str(self.cfg),
            "-Y", str(self.run_dir), "-P", str(self.run_dir / "kamailio.pid"),
            "-m", str(self.settings.shm_mb), "-M", "16", "-x", "tlsf",
            *(arg for name in self.defines for arg in ("-A", name)),
            *(("-A", "WITH_TLS") if self.settings.tls else ()),
            *(("-A", "WITH_DMQ") if self.settings.clustered else ()),
            *(("-A", "WITH_STIR") if self.settings.stir else ()),
        ]
        if self.settings.drop_privileges:
            argv += ["-u", self.user, "-g", self.group]  # binds its sockets as root, then drops
        return argv

    def start(self, db_wait: float = 120) -> None:
        """With MariaDB answering, as always. Without: from the snapshot of the last known configuration,
        and restarted once MariaDB answers (every module then connects again; acc's CDR writer cannot
        otherwise). Without either, MariaDB is waited for up to `db_wait` s (a first start)."""
        self.snapshot_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.rpc_socket.parent.mkdir(mode=0o770, parents=True, exist_ok=True)
        if self.settings.stir:
            if not os.access(self.settings.stir_ca_file, os.R_OK) or not Path(self.settings.stir_ca_file).is_file():
                raise StartError(f"configuration error: STIR_CA_FILE: {self.settings.stir_ca_file} is not a "
                                 "readable file")
            self.stir_cache.mkdir(mode=0o700, exist_ok=True)
        if self.settings.drop_privileges:
            _chown(self.run_dir, "kamailio")
            if self.settings.stir:
                _chown(self.stir_cache, "kamailio")
            _chown(self.snapshot_dir, "kamailio")
            _chown(self.rpc_socket.parent, "kamailio")
        if self.settings.tls:
            try:
                tlsconf.write(self.settings, self.run_dir)
            except ConfigError as exc:
                raise StartError(f"configuration error: {exc}") from None
        self.from_snapshot = not db_answers(self.settings)
        if self.from_snapshot and snapshot.written_checksum(self.snapshot_dir) is None:
            print(f"kamailio: MariaDB does not answer and {self.snapshot_dir} has no snapshot yet: waiting "
                  f"for MariaDB", flush=True)
            deadline = time.monotonic() + db_wait
            while not db_answers(self.settings):
                if time.monotonic() > deadline:
                    raise StartError(f"MariaDB did not answer within {db_wait:.0f}s and there is no snapshot")
                time.sleep(1)
            self.from_snapshot = False
        if self.from_snapshot:
            print(f"kamailio: MariaDB does not answer: starting from the snapshot in {self.snapshot_dir}",
                  flush=True)
        self._spawn(self.argv(), self.env())
        self._wait(self.ready, 30)
        if self.from_snapshot:
            self._db_watch = threading.Event()
            threading.Thread(target=self._restart_when_db_answers, args=(self._db_watch,), daemon=True).start()

    def ready(self) -> bool:
        """A single SBC answers OPTIONS on its private socket. A node of a pair may not hold the service
        addresses (the other node answers there): its own DMQ bus must list it instead."""
        s = self.settings
        if not s.clustered:
            return sipprobe.options(s.private_ip, s.private_port, timeout=0.3) == 200
        try:
            return any(node.get("host") == s.node_ip for node in dmq_nodes(self.rpc("dmq.list_nodes")))
        except (RuntimeError, subprocess.SubprocessError):
            return False

    def _restart_when_db_answers(self, stop: threading.Event) -> None:
        while not stop.wait(2):
            if not db_answers(self.settings):
                continue
            with self._restart_lock:
                if stop.is_set():
                    return
                print("kamailio: MariaDB answers again: restarting Kamailio so that its modules reconnect",
                      flush=True)
                self._restarting = True
                try:
                    super().stop()  # graceful: the dialogs go to MariaDB and come back
                    self.start()
                except StartError as exc:
                    print(f"kamailio: restart failed: {exc}", flush=True)
                finally:
                    self._restarting = False
            return

    def alive(self) -> bool:
        return self._restarting or super().alive()

    def stop(self, timeout: float = 10) -> None:
        self._db_watch.set()
        with self._restart_lock:
            if self.settings.clustered and super().alive():
                self.leave_bus()
            super().stop(timeout)

    def leave_bus(self) -> None:
        """A node of a pair forgets the other nodes before it stops: at shutdown the dialog module tells every
        node it knows to delete each dialog it holds, which would end the calls the others carry on."""
        try:
            listing = self.rpc("dmq.list_nodes")
        except (RuntimeError, subprocess.SubprocessError):
            return  # not answering: nothing will be sent either
        for node in dmq_nodes(listing):
            if node.get("host") != self.settings.node_ip:
                try:
                    self.rpc("dmq.remove", f"sip:{node.get('host')}:{node.get('port')}")
                except (RuntimeError, subprocess.SubprocessError):
                    pass  # gone meanwhile

    def jsonrpc(self, method: str, *params):
        return rpc.call(self.rpc_socket, method, *params)

    def rpc(self, *args: str) -> str:
        def run(argv: list[str]) -> str:
            done = subprocess.run(
                ["kamcmd", "-s", f"unix:{self.ctl_socket}", *argv], capture_output=True, text=True, timeout=10
            )
            if done.returncode != 0:
                raise RuntimeError(f"kamcmd {' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
            return done.stdout

        return kamcmd(run, *args)


def kamcmd(run: Callable[[list[str]], str], *args: str, attempts: int = 10) -> str:
    """One kamcmd RPC through `run` (which runs kamcmd with these arguments and returns what it printed).
    kamcmd exits 0 on an RPC fault and prints "error: CODE - TEXT": raised here, never taken for an answer.
    A module's reload_delta refusal ("Ongoing reload": two reloads in one second) is retried, as sbcctl does."""
    for attempt in range(attempts):
        out = run(list(args))
        if not out.startswith("error: "):
            return out
        if "ongoing reload" not in out.lower() or attempt == attempts - 1:
            raise RuntimeError(f"kamcmd {' '.join(args)}: {out.strip()}")
        time.sleep(0.5)
    raise AssertionError("unreachable")


class Api(Service):
    """The provisioning API (sbcapi), as the kamailio user: it reaches Kamailio's control socket like sbcctl."""

    name = "api"

    def __init__(self, settings: Settings, env: dict[str, str], run_dir: Path, log_to_files: bool):
        super().__init__(run_dir, log_to_files)
        self.settings = settings
        self.base_env = env

    def start(self) -> None:
        argv = [sys.executable, "-m", "sbcapi", "--env-file", "/dev/null", "--run-dir", str(self.run_dir)]
        if self.settings.drop_privileges:
            argv = ["setpriv", "--reuid=kamailio", "--regid=kamailio", "--init-groups", *argv]
        self._spawn(argv, {**os.environ, **self.base_env, "PYTHONPATH": str(REPO)})
        self._wait(self.ready, 30)

    def ready(self) -> bool:
        return api_answers(self.settings)


def api_answers(settings: Settings, timeout: float = 2.0) -> bool:
    """GET /v1/health answers 200 (over TLS unverified: this checks the process, not its certificate)."""
    scheme = "https" if settings.api_tls_cert else "http"
    context = ssl._create_unverified_context() if settings.api_tls_cert else None
    try:
        with urllib.request.urlopen(f"{scheme}://{settings.api_ip}:{settings.api_port}/v1/health", timeout=timeout,
                                    context=context) as answer:
            return answer.status == 200
    except (OSError, ValueError):
        return False
