"""Python KEMI routing for the Voice AI SBC (loaded by Kamailio's app_python3 through entry.py)."""
