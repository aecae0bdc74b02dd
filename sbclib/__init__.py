"""Pure code shared by the KEMI routes, sbcctl, the launcher and the bench: settings, policy, numbers,
the configuration store, rtpengine's ng protocol, Kamailio's RPC. Nothing here talks to KSR."""
