"""sbcctl check: the configuration read as a fraud reviewer reads it. Which sources place calls toward the
carrier and as whom, and what leaves a path open (exit 1), with the command that closes it.

A path is open where a call can reach the carrier on something other than a tenant's identity, or where a
tenant was allowed what the defaults refuse. Pure functions over rows; the command reads them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import typer

from sbclib import destinations, policy

GATEWAY_ROW, ACCOUNT_ROW, CARRIER_ROW = 2, 4, 1  # address groups (kemi/access/peers.py, kemi/access/accounts.py)
WIDE_MASK = 29  # a dedicated network of more than 8 addresses is worth a second look
RISKY_TYPES = ("premium_rate", "shared_cost", "personal_number")
# phonenumbers' region "001": satellite, international networks, UIFN freephone
INTERNATIONAL_NETWORK_PREFIXES = ("+800", "+808", "+870", "+878", "+881", "+882", "+883", "+888", "+979")


@dataclass(frozen=True)
class Finding:
    open: bool  # True: a call can reach the carrier in a way the defaults would refuse
    what: str
    fix: str


def acl_outbound(row: dict) -> str:
    """What a new INVITE from this row's sources gets toward the carrier (kemi/routes.py identified_caller)."""
    if row["group"] == CARRIER_ROW:
        return "carrier"
    if row["group"] == GATEWAY_ROW and row.get("dedicated") and row.get("tag"):
        return f"tenant {row['tag']}"
    if row["group"] in (GATEWAY_ROW, ACCOUNT_ROW):
        return "digest (407)"
    return "none"


def _network(row: dict) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(f"{row['ip_addr']}/{row['mask']}", strict=False)
    except ValueError:
        return None


def acl_findings(acl: list[dict], tenants: dict[str, dict], shared_gateways: list[str]) -> list[Finding]:
    """`shared_gateways`: URIs of the platform sets (GATEWAY_GROUPS), whose addresses no tenant owns."""
    found = []
    shared = [(uri, ipaddress.IPv4Address(host)) for uri in shared_gateways
              if (host := policy.address_of(uri)) is not None]
    for row in acl:
        if row["group"] != GATEWAY_ROW or not row.get("tag"):
            continue
        where = f"ACL entry {row['id']} ({row['ip_addr']}/{row['mask']}, tag {row['tag']})"
        if not row.get("dedicated"):
            found.append(Finding(False, f"{where}: not dedicated, its calls are challenged (407)",
                                 f"sbcctl acl dedicate {row['id']}  (only if {row['tag']} alone sends from it; "
                                 f"for a shared platform address: sbcctl account set NAME --tenant {row['tag']})"))
            continue
        tenant = tenants.get(row["tag"])
        if tenant is None or not tenant.get("enabled"):
            found.append(Finding(False, f"{where}: dedicated to a tenant that is "
                                        f"{'missing' if tenant is None else 'disabled'}: its calls are refused",
                                 f"sbcctl acl share {row['id']}, or create/enable tenant {row['tag']}"))
        network = _network(row)
        if network is not None and network.prefixlen < WIDE_MASK:
            found.append(Finding(True, f"{where}: {network.num_addresses} addresses dedicated to one tenant; "
                                       f"any of them calls as {row['tag']}",
                                 "dedicate only the tenant's own addresses (/32 rows)"))
        for uri, address in shared:
            if network is not None and address in network:
                found.append(Finding(True, f"{where}: contains {address}, a shared platform gateway ({uri}): "
                                           f"every customer of that platform calls as {row['tag']}",
                                     f"sbcctl acl share {row['id']}; give {row['tag']} a digest account"))
    return found


def account_findings(accounts: list[dict], tenants: dict[str, dict]) -> list[Finding]:
    found = []
    for account in accounts:
        tenant = tenants.get(account.get("tenant") or "")
        if account.get("enabled") and (tenant is None or not tenant.get("enabled")):
            found.append(Finding(False, f"account {account['username']}: bound to "
                                        f"{'no tenant' if tenant is None else 'a disabled tenant'}: places no call",
                                 f"sbcctl account set {account['username']} --tenant NAME"))
    return found


def tenant_findings(tenants: dict[str, dict]) -> list[Finding]:
    found = []
    for name, row in tenants.items():
        rules = destinations.from_row(row.get("allowed_countries"), row.get("allowed_prefixes"),
                                      row.get("denied_prefixes"), row.get("number_types"))
        if rules == destinations.CORRUPT:
            found.append(Finding(False, f"tenant {name}: a destination list sbcctl would refuse: it may call nothing",
                                 f"sbcctl tenant set {name} with valid --countries/--allow-prefixes/--types"))
            continue
        risky = [t for t in rules.types if t in RISKY_TYPES]
        networks = [p for p in rules.allowed_prefixes if p.startswith(INTERNATIONAL_NETWORK_PREFIXES)
                    or any(n.startswith(p) for n in INTERNATIONAL_NETWORK_PREFIXES)]
        if risky or networks:
            found.append(Finding(True, f"tenant {name}: allowed {', '.join(risky + networks)} (refused by default)",
                                 f"sbcctl tenant set {name} --types '' --allow-prefixes ''  (if not meant)"))
    return found


# ---- the command ---------------------------------------------------------------------------------

from sbcctl.cli import app, read_store, show, state  # noqa: E402 - the CLI's helpers, defined before this import


@app.command("check")
def check():
    """Who can call the carrier and as whom; exit 1 when a path is open."""
    db = read_store()
    tenants = {row["name"]: row for row in db.rows("SELECT * FROM tenant")}
    acl = db.rows("SELECT id, grp AS `group`, ip_addr, mask, tag, IFNULL(dedicated, 0) AS dedicated FROM address")
    accounts = db.rows("SELECT username, tenant, enabled FROM gateway_account")
    groups = state["settings"].gateway_groups
    shared = [row["uri"] for row in db.gateways() if row["group"] in groups]
    findings = acl_findings(acl, tenants, shared) + account_findings(accounts, tenants) + tenant_findings(tenants)
    show([{"open": "OPEN" if f.open else "-", "what": f.what, "fix": f.fix} for f in findings], "fraud check")
    if any(f.open for f in findings):
        raise typer.Exit(1)
