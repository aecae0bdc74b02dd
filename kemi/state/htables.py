"""Reading a whole htable from Python (a timer's sweep): its items, copied out before anyone acts on them."""

from __future__ import annotations

import KSR


def items(table: str, iterator: str) -> list[tuple[str, str]]:
    """(key, value) of every string item. Read completely first: the iterator holds the table's slot locks, and a
    SIP worker writing the table (a dialog:start, say) waits on them."""
    found = []
    if KSR.htable.sht_iterator_start(iterator, table) < 0:
        return found
    try:
        while KSR.htable.sht_iterator_next(iterator) > 0:
            key, value = KSR.pv.get(f"$shtitkey({iterator})"), KSR.pv.get(f"$shtitval({iterator})")
            if isinstance(key, str) and isinstance(value, str):
                found.append((key, value))
    finally:
        KSR.htable.sht_iterator_end(iterator)
    return found
