"""Runs a sipvicious tool from a given source address: `python sipvicious_from.py SOURCE UA TOOL ARGS...`.

sipvicious 0.3's svwar and svcrack ignore their -b (binding address) option and send from the host's
default address (127.0.0.1 here, the SBC's own health checker), so every socket they bind to "any" is
bound to SOURCE instead. UA "-" keeps sipvicious' own User-Agent (which the SBC drops as a scanner's);
any other value disguises it, so that the answers are the SBC's routing, not its scanner filter.
"""

import runpy
import socket
import sys

source, user_agent, tool = sys.argv[1:4]
_bind = socket.socket.bind


def bind(sock, address):
    if address[0] in ("", "0.0.0.0"):
        address = (source, *address[1:])
    return _bind(sock, address)


socket.socket.bind = bind
if user_agent != "-":
    import sipvicious.libs.svhelper as helper

    defaults = list(helper.makeRequest.__defaults__)
    defaults[defaults.index("friendly-scanner")] = user_agent
    helper.makeRequest.__defaults__ = tuple(defaults)
sys.argv = [tool, *sys.argv[4:]]
runpy.run_module(f"sipvicious.{tool}", run_name="__main__")
