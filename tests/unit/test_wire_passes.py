"""kemi/topology/wire.py reads a header section and an SDP each in one pass of a compiled expression: on
generated input, what it finds is what the line-by-line reading finds (header fields) and what checking
each address's own line finds (addresses in a body)."""

import random

from kemi.topology import wire

NAMES = ["Via", "v", "From", "f", "To", "Call-ID", "i", "CSeq", "Contact", "m", "X-Odd.Name!%", "Max-Forwards",
         "a" * 64, "a" * 65, "Bad Name", "", "Séance"]
VALUES = ["SIP/2.0/UDP 127.0.4.1:5060;branch=z9hG4bK-1", "<sip:+15551234567@127.0.4.1>;tag=1", "1 INVITE",
          "", " ", "\t", "a\u00a0", "\u2003b", "x\ry", "70", "value with  spaces  ", "v\x0b"]
GAPS = ["", " ", "\t", "  ", "\t "]


def generated_head(rng: random.Random) -> str:
    lines = [rng.choice(["INVITE sip:a@127.0.1.1 SIP/2.0", "SIP/2.0 200 OK"])]
    for _ in range(rng.randint(0, 12)):
        kind = rng.random()
        if kind < 0.75:
            parts = (rng.choice(NAMES), rng.choice(GAPS), ":", rng.choice(GAPS), rng.choice(VALUES),
                     rng.choice(["", " ", "\t", "\r"]))
            lines.append("".join(parts))
        elif kind < 0.85:
            lines.append(rng.choice([" folded", "\tfolded too"]))
        else:
            lines.append(rng.choice(["", "no header here", ":", "\r"]))
    return "".join(line + rng.choice(["\r\n", "\r\n", "\n", "\r\r\n"]) for line in lines[:-1]) + lines[-1]


def test_header_fields_in_one_pass_are_the_line_by_line_reading():
    rng = random.Random(20261205)
    fast = 0
    for _ in range(5000):
        head = generated_head(rng)
        found = wire.header_fields(head)
        assert found == wire._header_fields_by_line(head), repr(head)
        fast += all(name for name, _ in found)
    assert fast > 500  # the one-pass reading was the one that answered, often


def each_address_on_its_line(body: bytes) -> bool:
    """The reference: every address but 0.0.0.0 on a line rtpengine rewrites (the line, its CRs stripped)."""
    text = body.decode("ascii", "replace")
    for found in wire._IPV4.finditer(text):
        if found.group() == wire._ANY_ADDRESS:
            continue
        start = text.rfind("\n", 0, found.start()) + 1
        end = text.find("\n", found.end())
        line = text[start:len(text) if end < 0 else end].rstrip("\r")
        if not wire.re.match(wire._REWRITTEN_SDP_LINE + "$", line):
            return False
    return True


SDP_LINES = ["v=0", "o=- 1 2 IN IP4 127.0.4.1", "o=- 1 2 IN IP4  127.0.4.1", "o=user1 5 6 IN IP4 127.0.4.1 ",
             "s=-", "c=IN IP4 127.0.4.1", "c=IN IP4 127.0.4.1/127", "c=IN IP4 0.0.0.0", "c=IN IP4 127.0.4.1x",
             "t=0 0", "m=audio 6000 RTP/AVP 0", "a=rtcp:6001 IN IP4 127.0.4.1", "a=rtcp:6001 IN IP4 127.0.4.1.4",
             "a=candidate:1 1 UDP 2130706431 127.0.4.1 6000 typ host", "a=remote-candidates:1 127.0.4.1 6000",
             "i=see 127.0.4.9", "a=x:127.0.4.1", "127.0.4.1", "a=sendrecv", "", "1.2.3.4c=IN IP4 1.2.3.4"]


def test_addresses_in_a_body_in_one_pass_are_each_address_checked_on_its_line():
    rng = random.Random(20261205)
    outcomes = set()
    for _ in range(5000):
        lines = rng.sample(SDP_LINES, rng.randint(1, 8))
        body = "".join(line + rng.choice(["\r\n", "\n", "\r\r\n", "\r"]) for line in lines).encode()
        problem = wire._body_problem(body, {"cseq": ["1 INVITE"], "content-type": ["application/sdp"]}, 0)
        assert (problem is None) == each_address_on_its_line(body), body
        outcomes.add(problem)
    assert outcomes == {None, "address in body"}
