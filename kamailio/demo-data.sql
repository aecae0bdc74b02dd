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
 (6, 10, 'sip:127.0.4.3:5060', 0, 5, 'weight=100;sockname=private', 'Carrier interconnect B'),
 -- Tenants' own sets (the original deployment's LiveKit projects, previously all in set 2):
 (21, 21, 'sip:127.0.3.21:5060', 0, 10, 'weight=50', 'LiveKit primary A'),
 (22, 21, 'sip:127.0.3.22:5060', 0, 5, 'weight=50', 'LiveKit primary B'),
 (23, 22, 'sip:127.0.3.23:5060', 0, 10, 'weight=100', 'LiveKit DigiPanda'),
 (24, 23, 'sip:127.0.3.24:5060', 0, 10, 'weight=100', 'LiveKit Voxket'),
 (25, 24, 'sip:127.0.3.25:5060', 0, 10, 'weight=100', 'LiveKit Fabriq'),
 (30, 25, 'sip:127.0.3.30:5060', 0, 10, 'weight=100', 'Acme self-hosted agents');

-- Tenant gateways' own source addresses (self-hosted LiveKit), tagged with the tenant and declared dedicated
-- to it: outbound calls from them are that tenant's. A shared platform address (VAPI, LiveKit Cloud) is
-- never dedicated: its calls authenticate by digest (sbcctl account set ... --tenant).
INSERT IGNORE INTO address (id, grp, ip_addr, mask, port, tag, dedicated) VALUES
 (21, 2, '127.0.3.21', 32, 0, 'livekit-primary', 1),
 (22, 2, '127.0.3.22', 32, 0, 'livekit-primary', 1),
 (23, 2, '127.0.3.23', 32, 0, 'digipanda', 1),
 (24, 2, '127.0.3.24', 32, 0, 'voxket', 1),
 (25, 2, '127.0.3.25', 32, 0, 'fabriq', 1),
 (30, 2, '127.0.3.30', 32, 0, 'acme', 1);

INSERT IGNORE INTO tenant (id, name, enabled, gateway_group, allow_backup, max_calls, max_cps, callerid_policy,
                           default_did) VALUES
 (1, 'livekit-primary', 1, 21, 1, 50, 20, 'reject', '+14155550201'),
 (2, 'digipanda', 1, 22, 0, 20, 10, 'replace', '+14155550301'),
 (3, 'voxket', 1, 23, 0, 2, 5, 'reject', '+14155550401'),
 (4, 'fabriq', 0, 24, 0, 10, 5, 'reject', '+14155550501'),
 (5, 'acme', 1, 25, 0, 50, 50, 'replace', '+12125550199');

INSERT IGNORE INTO address (id, grp, ip_addr, mask, port, tag) VALUES
 (1, 1, '127.0.4.0', 24, 0, 'carriers'),
 (2, 2, '127.0.3.0', 24, 0, NULL);  -- the platforms' shared addresses: their outbound calls authenticate
-- Group 3 (health checkers, OPTIONS only) is for monitoring hosts; the SBC host's own checks from
-- 127.0.0.1 need no row (kemi/policy.py LOCAL_MONITOR).

INSERT IGNORE INTO did_routing (id, did, gateway_group, gateway_uri, tenant, description) VALUES
 -- Untenanted DIDs route by provider group (the original deployment's model), tenant '':
 (1, '+14155550101', 1, NULL, '', 'VAPI assistant'),
 (2, '+14155550102', 2, NULL, '', 'LiveKit agents, spread by weight'),
 (3, '+14155550103', NULL, 'sip:127.0.3.5:5060', '', 'One gateway, no group'),
 -- Tenant DIDs route only to their tenant's set:
 (21, '+14155550201', NULL, NULL, 'livekit-primary', 'primary tenant main line'),
 (22, '+14155550202', NULL, NULL, 'livekit-primary', 'primary tenant sales'),
 (31, '+14155550301', NULL, NULL, 'digipanda', 'DigiPanda main line'),
 (41, '+14155550401', NULL, NULL, 'voxket', 'Voxket main line'),
 (51, '+14155550501', NULL, NULL, 'fabriq', 'Fabriq (tenant disabled)'),
 (61, '+12125550199', NULL, NULL, 'acme', 'Acme main line (its agents call out from 127.0.3.30)');
