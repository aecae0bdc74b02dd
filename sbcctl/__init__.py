"""sbcctl: the operator's CLI for the SBC's gateways, carriers, DIDs, ACL and reloads."""
