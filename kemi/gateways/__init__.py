"""The peers a call is sent to: one attempt per peer with failover (attempts), host-named gateways resolved
(hostnames) and probed target by target (gwprobe)."""
