"""The provisioning HTTP API: the configuration sbcctl manages, for other systems (portals, billing)."""
