"""The integration suite's settings: short timers so that failover, probing and bans are seen in seconds."""

TEST_SETTINGS = {"LOG_LEVEL": "2", "SIP_WORKERS": "4", "DS_PING_INTERVAL": "1", "DS_PROBING_THRESHOLD": "2",
                 "GATEWAY_NO_REPLY_MS": "1000", "CARRIER_NO_REPLY_MS": "1000", "BAN_SECONDS": "5",
                 "DB_RETRY_AFTER": "1", "MEDIA_CHECK_INTERVAL": "1", "SNAPSHOT_INTERVAL": "1",
                 "GATEWAY_DNS_INTERVAL": "1", "OUTBOUND_MAX_CPS": "30",
                 # test_stir.py's carrier publishes its signing certificate here (plain HTTP on loopback)
                 "STIR_X5U_PREFIXES": "http://127.0.0.1:8099/,https://"}
