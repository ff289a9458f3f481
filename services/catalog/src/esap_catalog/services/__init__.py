"""The catalog's behaviour around the pure domain: applying batches, relaying the outbox, answering reads,
waiting for changes, verifying callbacks, seeding the catalogue.

Depends on the domain and storage; never on handlers or the web framework.
"""
