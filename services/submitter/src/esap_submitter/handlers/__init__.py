"""The submitter's edges: the bus message handler (it serves no HTTP API of its own, only ops endpoints)."""
