-- Example data for `make run` and the test stack. Loopback addresses only: 127.0.3.x are the
-- AI gateways, 127.0.4.x the carriers. Carriers (set 10) are reached and probed from the private
-- socket (sockname=private); gateways from the public one (the default). Carriers are tried by
-- priority (CARRIER_DS_ALGORITHM=8): A first, B when A fails. Replace with your own rows (see README) in production.
-- INSERT IGNORE with fixed ids: re-applying never overwrites an operator's changes.

INSERT IGNORE INTO dispatcher (id, setid, destination, flags, priority, attrs, description) VALUES
 (1, 1, 'sip:127.0.3.1:5060', 0, 10, 'weight=100', 'VAPI'),
 (2, 2, 'sip:127.0.3.2:5060', 0, 10, 'weight=50', 'LiveKit primary'),
 (3, 2, 'sip:127.0.3.3:5060', 0, 10, 'weight=50', 'LiveKit DigiPanda'),
 (4, 3, 'sip:127.0.3.9:5060', 0, 10, 'weight=100', 'Backup provider'),
 (5, 10, 'sip:127.0.4.1:5060', 0, 10, 'weight=100;sockname=private', 'Carrier interconnect A'),
 (6, 10, 'sip:127.0.4.3:5060', 0, 5, 'weight=100;sockname=private', 'Carrier interconnect B');

INSERT IGNORE INTO address (id, grp, ip_addr, mask, port, tag) VALUES
 (1, 1, '127.0.4.0', 24, 0, 'carriers'),
 (2, 2, '127.0.3.0', 24, 0, 'AI gateways'),
 (3, 3, '127.0.0.1', 32, 0, 'local health checks (OPTIONS only)');

INSERT IGNORE INTO did_routing (id, did, gateway_group, gateway_uri, tenant, description) VALUES
 (1, '+14155550101', 1, NULL, 'vapi-demo', 'VAPI assistant'),
 (2, '+14155550102', 2, NULL, 'livekit-demo', 'LiveKit agents, spread by weight'),
 (3, '+14155550103', NULL, 'sip:127.0.3.5:5060', 'direct-demo', 'One gateway, no group');
