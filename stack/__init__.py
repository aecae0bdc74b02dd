"""Runs the SBC's processes (MariaDB, rtpengine, Kamailio) for `make run` and for the tests."""
