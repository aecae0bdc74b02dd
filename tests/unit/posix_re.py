"""textops' regular expressions as Kamailio runs them: libc's POSIX regcomp/regexec with
REG_EXTENDED|REG_ICASE|REG_NEWLINE, and replace_body_all's loop (REG_NOTBOL unless the match ended a line).
Python's re differs from POSIX (a backslash inside brackets, for one), so patterns are checked here."""

from __future__ import annotations

import ctypes
import ctypes.util

_libc = ctypes.CDLL(ctypes.util.find_library("c"))
REG_EXTENDED, REG_ICASE, REG_NEWLINE, REG_NOTBOL = 1, 2, 4, 1
FLAGS = REG_EXTENDED | REG_ICASE | REG_NEWLINE


class _Match(ctypes.Structure):
    _fields_ = [("rm_so", ctypes.c_int), ("rm_eo", ctypes.c_int)]  # noqa: RUF012 - ctypes reads it here


class Regex:
    def __init__(self, pattern: str):
        self._re = ctypes.create_string_buffer(256)  # regex_t is 64 bytes on glibc x86_64
        if _libc.regcomp(self._re, pattern.encode(), FLAGS) != 0:
            raise ValueError(f"regcomp refused {pattern!r}")

    def search(self, data: bytes, notbol: bool = False) -> tuple[int, int] | None:
        match = _Match()
        if _libc.regexec(self._re, ctypes.c_char_p(data), 1, ctypes.byref(match), REG_NOTBOL if notbol else 0):
            return None
        return match.rm_so, match.rm_eo

    def __del__(self):
        _libc.regfree(self._re)


def search_body(pattern: str, body: bytes) -> int:
    """textops.search_body: 1 found, -1 not."""
    return 1 if Regex(pattern).search(body) else -1


def replace_body_all(pattern: str, replacement: str, body: bytes) -> bytes:
    """textops.replace_body_all's result (its lumps applied): after a match, ^ holds at the next character
    only if the match ended with CR or LF; an empty match is an error there."""
    regex, out, offset, notbol = Regex(pattern), b"", 0, False
    while offset < len(body) and (found := regex.search(body[offset:], notbol)) is not None:
        start, end = found
        if start == end:
            raise ValueError(f"{pattern!r} matched an empty string: textops stops with an error")
        out += body[offset:offset + start] + replacement.encode()
        offset += end
        notbol = body[offset - 1:offset] not in (b"\n", b"\r")
    return out + body[offset:]
