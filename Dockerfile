# The SBC image (Debian 13, Kamailio 6.0): one image, four roles (db, redis, rtpengine, kamailio),
# chosen by the command. Packages: the runtime part of scripts/deps-debian.txt, installed by the same
# script as `make deps` and CI; no test tool is in it.
# No registry? `make image` builds debian:trixie-slim locally with debootstrap (scripts/base-image.sh).
FROM debian:trixie-slim

WORKDIR /opt/sbc
COPY scripts/install-deps.sh scripts/deps-debian.txt scripts/
# The packaged MariaDB's own datadir (/var/lib/mysql) is unused: the db role keeps its data in /var/lib/sbc.
RUN ./scripts/install-deps.sh --runtime \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/lib/mysql /var/log/apt /var/log/*.log

COPY kemi/ kemi/
COPY sbclib/ sbclib/
COPY kamailio/ kamailio/
COPY stack/ stack/
COPY sbcctl/ sbcctl/
COPY sbcapi/ sbcapi/

# Kamailio binds its sockets as root, then runs as 'kamailio'; MariaDB as 'mysql', Redis as 'redis'.
# rtpengine stays root, without NET_ADMIN in compose: it forwards in userspace (rtpengine.conf table = -1).
# State lives under /var/lib/sbc; compose mounts named volumes there (no anonymous VOLUME here).
ENV DROP_PRIVILEGES=1 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
ENTRYPOINT ["python3", "-m", "stack", "--run-dir", "/var/lib/sbc"]
CMD ["kamailio"]
