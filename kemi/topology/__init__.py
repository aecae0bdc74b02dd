"""Topology hiding that fails closed: every message checked on its bytes (wire), what crosses rewritten
(rewriting, sdpscrub), what leaves checked again (egress), TLS peers named (tlspeer); topos does the hiding."""
