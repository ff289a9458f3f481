"""The gateway's pure UWS rules: no I/O, no framework; every layer may use them."""
