"""What the SBC tells the operator: Prometheus metrics, the call records, post-dial delay and time to answer,
media quality."""
