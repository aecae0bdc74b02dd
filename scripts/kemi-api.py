#!/usr/bin/env python3
"""Flattens `kamcmd app_python.api_list` into one line per KSR function ("KSR.tm.t_relay(none) -> int").

The unit tests' fake KSR accepts only these functions. Regenerate after changing loadmodule lines:
    kamcmd -s unix:run/kamailio_ctl app_python.api_list | scripts/kemi-api.py > tests/data/kemi-api.txt
"""

import re
import sys

lines = []
for block in re.findall(r"func: \{(.*?)\}", sys.stdin.read(), re.S):
    fields = dict(re.findall(r"^\s*(ret|module|name|params): ?(.*)$", block, re.M))
    module = f"{fields['module']}." if fields.get("module") else ""
    lines.append(f"KSR.{module}{fields['name']}({fields['params']}) -> {fields['ret']}")
print("\n".join(lines))
