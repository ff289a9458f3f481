"""The monitor's edges: the bus message handler (its only HTTP routes are the shared ops endpoints)."""
