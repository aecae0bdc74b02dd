"""What a call keeps and shares: its dialog variables, htable reads, the pair's shared state (cluster), and
the watch of its media (deadmedia)."""
