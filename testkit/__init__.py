"""What the integration tests and the bench both drive: SIPp, the suite's Docker engine, RTP and SRTP
endpoints, a SIP user agent, the two-node pair, the suite's settings."""
