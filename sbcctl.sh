#!/bin/sh
# Runs sbcctl with the Python Kamailio uses (Debian's), from anywhere.
cd "$(dirname "$0")" && exec /usr/bin/python3 -m sbcctl "$@"
