"""The docs' promises about survival, hiding, limits and failover, each with the test and the assertion that
prove it, and the figure each test printed in a run: `python scripts/claims.py [LOG ...]`.

A LOG is the output of pytest runs with `-rP` (passed tests' output: `PYTEST_ADDOPTS=-rP make test`, whose
two runs are the host's and the image's); each run's figures are shown in a column. The assertion's
file:line is found in the test's source by a fragment of its text, so the table follows the code; a claim
whose test or assertion is gone stops the script (exit 1) instead of pointing at the wrong line.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Claim:
    area: str
    promise: str
    test: str  # path::function
    assertion: str  # a fragment of the assert's source
    figures_of: str = ""  # the test whose output carries the figure (a module fixture prints in its first user)


CLAIMS = [
    Claim("survival", "a graceful restart keeps established calls: their re-INVITEs, BYEs and records",
          "tests/integration/test_restart.py::test_calls_up_across_a_restart_keep_their_re_invites_byes_and_records",
          'len(gateway.received("BYE")) == HELD'),
    Claim("survival", "media flows on through a restart (rtpengine keeps it), the call stays controlled",
          "tests/integration/test_restart.py::test_media_flows_on_through_a_kamailio_restart_and_the_call_stays_controlled",
          "min(shares) >= 0.95"),
    Claim("survival", "what a crash of a lone node loses: its calls' signalling (BYE 481) and their records",
          "tests/integration/test_restart.py::test_what_a_crash_of_a_single_node_loses_measured",
          "bye_answers == [481]"),
    Claim("survival", "a node killed mid-call: the other takes its addresses, calls and media (>= 80 % of the "
                      "stream 0.5-2 s after the move, from the service address, the call's own SSRC)",
          "tests/integration/test_pair.py::test_a_node_killed_mid_call_leaves_its_calls_and_their_media_to_the_other",
          "media.check()"),
    Claim("survival", "MariaDB down: DIDs route from the cache and the snapshot; recovery without restart",
          "tests/integration/test_outages.py::test_db_outage_keeps_dids_routing_from_the_cache_and_the_snapshot_and_recovers",
          "from_snapshot == 2"),
    Claim("survival", "Redis down: new calls refused rather than sent unhidden",
          "tests/integration/test_outages.py::test_redis_outage_refuses_new_calls_rather_than_unhidden_ones_and_recovers",
          "leaks(received, PRIVATE_SIDE) == []"),
    Claim("hiding", "nothing of the private side reaches the gateways",
          "tests/integration/test_topology_leaks.py::test_nothing_of_the_private_side_reaches_the_public_side",
          "leaks(gateway, PRIVATE_SIDE) == []"),
    Claim("hiding", "nothing of the public side reaches the carrier",
          "tests/integration/test_topology_leaks.py::test_nothing_of_the_public_side_reaches_the_carrier",
          "leaks(carrier, PUBLIC_SIDE) == []"),
    Claim("hiding", "the Call-ID does not cross (6.0; a strict xfail on 5.6)",
          "tests/integration/test_topology_leaks.py::test_the_call_id_does_not_cross",
          "carrier_call_id in m.text"),
    Claim("hiding", "hostile input from every sender: no leak, no 500, no crash, no dialog left",
          "tests/integration/test_fuzz.py::test_generated_hostile_sip_never_leaks_never_crashes_and_the_sbc_carries_calls_after",
          "code_500 == 0"),
    Claim("hiding", "a message that would leak is dropped at egress (both runtimes)",
          "tests/integration/test_egress.py::test_a_message_that_would_leak_never_reaches_the_other_side",
          "reached == []", "test_a_message_that_would_leak_is_seen_logged_and_counted_at_egress"),
    Claim("hiding", "what RFC 3261 allows and carriers send is relayed, answered, hidden (7 forms)",
          "tests/integration/test_valid_input.py::test_a_valid_form_is_relayed_answered_and_hidden", "naming == []"),
    Claim("hiding", "INVITEs generated from the RFC 3261 grammar: none refused, each relayed and hidden",
          "tests/integration/test_valid_input.py::test_generated_valid_invites_are_all_relayed_answered_and_hidden",
          "refused == {}"),
    Claim("hiding", "an SDP line rtpengine would leave as written gets 400 and reaches no gateway",
          "tests/integration/test_hostile_input.py::test_an_sdp_line_rtpengine_would_not_rewrite_gets_400_and_reaches_no_gateway",
          "{400: 1}"),
    Claim("hiding", "forged in-dialog requests reach nobody; the call goes on",
          "tests/integration/test_live_call.py::test_forged_requests_in_a_live_call_reach_nobody_and_the_call_goes_on",
          "to_carrier == []"),
    Claim("limits", "a tenant's calls per second: the excess gets 503 with Retry-After",
          "tests/integration/test_tenancy.py::test_a_tenants_attempts_over_its_max_cps_in_one_second_get_503_with_retry_after",
          "len(refused) == over == 4"),
    Claim("limits", "a pair counts a tenant's second once: refused on the other node",
          "tests/integration/test_pair.py::test_a_tenants_call_rate_holds_when_its_second_call_arrives_at_the_other_node",
          'refused == "503 Tenant Call Rate Exceeded"'),
    Claim("limits", "a tenant out of minutes: its call ended both ways, the next refused",
          "tests/integration/test_minutes_cap.py::test_a_tenant_out_of_minutes_has_its_call_ended_both_ways_and_the_next_one_refused",
          'refusal.start == "SIP/2.0 403 Tenant Minutes Exhausted"'),
    Claim("limits", "dead media ends the call both ways within the tenant's timeout",
          "tests/integration/test_dead_media.py::test_a_call_whose_gateway_stops_sending_is_ended_both_ways_with_a_reason",
          "TIMEOUT <= teardown"),
    Claim("failover", "a 503 fails over to the next gateway; the call has media both ways",
          "tests/integration/test_failover.py::test_503_from_the_first_gateway_fails_over_and_the_call_has_media",
          "assert_heard(heard, MEDIA_SECONDS)"),
    Claim("failover", "a silent gateway is left after the attempt's timer",
          "tests/integration/test_failover.py::test_silent_first_gateway_fails_over_after_the_no_reply_timer",
          "NO_REPLY - TM_TICK - 0.02 <= seconds"),
    Claim("failover", "every gateway down: a prompt 503, nothing held",
          "tests/integration/test_failover.py::test_every_gateway_down_answers_503_promptly_and_holds_nothing",
          "marked_down < PROMPT"),
    Claim("failover", "post-dial delay recorded per call between the gateway's and the carrier's views",
          "tests/integration/test_call_timing.py::test_a_gateway_ringing_after_300_ms_shows_as_its_post_dial_delay",
          "took - ROUNDED - STAMP <= kept"),
]


def assertion_line(claim: Claim) -> str:
    path, name = claim.test.split("::")
    source = (REPO / path).read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            # an assert, or a statement that asserts through a helper (`media.check()`)
            for sub in ast.walk(node):
                if isinstance(sub, ast.Assert | ast.Expr) and claim.assertion in ast.get_source_segment(source, sub):
                    return f"{path}:{sub.lineno}"
            raise SystemExit(f"{claim.test}: no assertion containing {claim.assertion!r}")
    raise SystemExit(f"{claim.test}: no such test")


def figures(log: Path) -> list[dict[str, str]]:
    """Per pytest run in the log (each `-rP` report opens with a PASSES banner; `make test` runs the host
    suite, then the image's): test function name -> what it printed, its lines joined."""
    runs: list[dict[str, list[str]]] = []
    current, keep = None, False
    for line in log.read_text(errors="replace").splitlines():
        header = re.match(r"^_+ (test_\w+)(?:\[[^\]]*\])? _+$", line)
        if re.match(r"^=+ PASSES =+$", line):
            runs.append({})
            current, keep = None, False
        elif header and runs:
            current, keep = header[1], False
        elif line.startswith(("-----", "=====")) or re.match(r"^\d+ (passed|failed|error)", line):
            keep = current is not None and "Captured stdout" in line  # setup (fixtures) and call; not logs
        elif keep and line.strip():
            runs[-1].setdefault(current, []).append(line.strip())
    return [{name: " / ".join(lines) for name, lines in run.items()} for run in runs]


def main(logs: list[str]) -> int:
    runs, labels = [], []
    for log in logs:
        found = figures(Path(log))
        runs += found
        labels += [f"{Path(log).stem}, run {n}" for n in range(1, len(found) + 1)]
    print("| area | the docs' promise | assertion | " + " | ".join(f"figure ({label})" for label in labels) + " |")
    print("|---|---|---|" + "---|" * len(labels))
    for claim in CLAIMS:
        name = claim.test.split("::")[1]
        cells = [run.get(claim.figures_of or name, "(prints no figure)").replace("|", "\\|") for run in runs]
        print(f"| {claim.area} | {claim.promise} | `{assertion_line(claim)}` ({name}) | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
