"""Who may call: who sent a request (peers), digest accounts and their challenges, the tenant's limits and
destinations (admission), its minutes (minutes), and our answers to a peer's challenge (challenges)."""
