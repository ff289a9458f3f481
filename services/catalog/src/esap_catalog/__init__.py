"""The esap-batch catalog: owns PostgreSQL and is the single writer of job state.

It consumes the catalog queue in batches, applies a pure state machine, writes jobs and an outbox in one
transaction, relays the outbox to the bus, and serves the internal read API (with WAIT) to the other services.
"""
