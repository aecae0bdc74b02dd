"""How much the Call-ID mask (Kamailio 6.0: topos mask_callid with topoh's encoder) hides from a gateway.

topoh encodes a Call-ID as base64 over an alphabet the key permutes (th_mask.c): no nonce, no mixing between
positions. So what a tenant sees on the gateway side is a fixed substitution of the carrier's Call-ID's 6-bit
groups. This test measures it on the shipped image as a tenant would: carriers' Call-IDs end in "@<their
address>", the tenant learns (6-bit value, masked character) pairs from calls whose Call-ID it can guess in
part, and counts the calls after which the next Call-ID decodes whole, carrier address included. It documents
a weakness (docs/security.md): the mask hides Call-IDs from casual view, it is not encryption.
"""

from __future__ import annotations

import base64
import os
import time

import pytest

from testkit.harness import wait_state
from testkit.sipua import AnsweringPeer, Caller, wait_until

pytestmark = pytest.mark.compose_only  # Kamailio 5.6 (the host) does not mask at all

SBC_PRIVATE = ("127.0.1.1", 5060)
GATEWAY = ("127.0.3.24", 5060)  # voxket's gateway (demo data: DID +14155550401)
CARRIER = ("127.0.4.2", 5076)
PREFIX = "!!:"  # topos' mark of a masked Call-ID
CALLS = 20  # observed by the tenant (one run decoded the 7th whole from the 6 before it)
SIXBIT = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"  # standard base64's value order


def six_bit_groups(plain: str) -> list[int]:
    """The 6-bit values base64 makes of `plain` (whole groups only: padding carries no value)."""
    encoded = base64.b64encode(plain.encode()).decode().rstrip("=")
    return [SIXBIT.index(c) for c in encoded]


def masked_ids(sbc, plains: list[str]) -> list[tuple[str, str]]:
    """(carrier Call-ID, what the gateway received) for calls of these Call-IDs (the gateway answers busy)."""
    seen = []
    gateway = AnsweringPeer(*GATEWAY, lambda invite: 486).start()
    caller = Caller(CARRIER, SBC_PRIVATE, "4155550401", [])
    try:
        wait_state(sbc, [GATEWAY[0]], active=True, timeout=20)  # nobody answered its probes before
        for plain in plains:
            before = len(gateway.requests)
            caller.send(caller.invite(plain).render(), SBC_PRIVATE)

            def arrived(since=before):
                return [m for m in gateway.requests[since:] if m.method == "INVITE"]
            assert wait_until(arrived, 5), "the gateway got no INVITE"
            seen.append((plain, arrived()[0].header("call-id")))
            caller.pump()
            time.sleep(0.25)  # voxket's 5 calls/s
        wait_until(lambda: caller.pump() or sum(caller.codes.values()) >= len(plains), 3)
    finally:
        gateway.stop()
        caller.close()
    return seen


def test_masked_call_ids_are_a_fixed_substitution_that_a_few_calls_reveal(quiet_sbc):
    plains = [f"{os.urandom(9).hex()}@{CARRIER[0]}" for _ in range(CALLS)]  # the shape carriers' Call-IDs have
    plains.append(("e" if plains[0][0] == "f" else "f") + plains[0][1:])  # the first one, one character changed
    observed = masked_ids(quiet_sbc, plains)
    calls, (_, variant) = observed[:-1], observed[-1]
    table: dict[str, int] = {}
    decoded_after = None
    for number, (plain, masked) in enumerate(calls):
        assert masked.startswith(PREFIX) and plain not in masked
        symbols = masked[len(PREFIX):].rstrip("*")
        values = six_bit_groups(plain)
        if decoded_after is None and all(c in table for c in symbols):
            # Before learning from this call: could the tenant read it from the calls seen so far?
            guessed = base64.b64decode("".join(SIXBIT[table[c]] for c in symbols) + "=" * (-len(symbols) % 4))
            assert guessed.decode() == plain
            decoded_after = number
        for char, value in zip(symbols, values, strict=True):
            assert table.setdefault(char, value) == value  # one character, one value: a substitution
    # Two Call-IDs that differ in their first character: their masks differ in the first two characters at most
    # (where that character's 8 bits fall), the rest is the same: nothing like unrelated values.
    differing = [i for i, (x, y) in enumerate(zip(calls[0][1], variant, strict=True)) if x != y]
    assert differing and all(i < len(PREFIX) + 2 for i in differing), (calls[0][1], variant)
    print(f"\nCall-ID mask: a fixed substitution of base64's 6-bit groups; {len(table)} of 64 symbols learnt "
          f"from {len(calls)} calls; the call after {decoded_after} observed ones decoded whole, carrier "
          f"address included")
    assert decoded_after is not None
