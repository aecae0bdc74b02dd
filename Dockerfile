# The SBC image: one image, three roles (db, rtpengine, kamailio), chosen by the command.
# Packages come from the same script and list as `make deps` and CI: scripts/install-deps.sh.
FROM debian:bookworm-slim

WORKDIR /opt/sbc
COPY scripts/ scripts/
RUN ./scripts/install-deps.sh --runtime && rm -rf /var/lib/apt/lists/*

COPY kemi/ kemi/
COPY kamailio/ kamailio/
COPY stack/ stack/
COPY sbcctl/ sbcctl/

# Kamailio binds its sockets as root, then runs as the 'kamailio' user; MariaDB runs as 'mysql'.
# rtpengine stays root (it may load the kernel forwarding table when the host provides it).
ENV DROP_PRIVILEGES=1 PYTHONUNBUFFERED=1
VOLUME ["/var/lib/sbc"]
ENTRYPOINT ["python3", "-m", "stack", "--run-dir", "/var/lib/sbc"]
CMD ["kamailio"]
