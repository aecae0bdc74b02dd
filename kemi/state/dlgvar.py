"""Per-call variables kept on the dialog (acc's CDR columns and `sbcctl calls` read them).

Through the $dlg_var pseudo-variable, not KSR.dialog.var_sets/var_get: on Kamailio 5.6.3 those change and
read the dialog's variable list without the dialog's lock, and two processes can touch one call's variables
at once (an 18x read late by one worker while another runs the 200's dialog:start). $dlg_var locks on 5.6
and 6.0, and marks the variables changed so that a restart's saved dialogs keep them.
"""

from __future__ import annotations

import KSR


def put(name: str, value: str) -> None:
    KSR.pv.sets(f"$dlg_var({name})", value)


def get(name: str) -> str:
    """"" when unset (or no dialog)."""
    value = KSR.pv.get(f"$dlg_var({name})")
    return value if isinstance(value, str) else ""
