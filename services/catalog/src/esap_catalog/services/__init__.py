"""The catalog's behaviour around the pure domain: applying batches, relaying the outbox, answering reads,
waiting for changes, verifying callbacks, seeding the catalogue (the workflows and facilities jobs may name,
which this service keeps beside the jobs).

Depends on the domain and storage; never on handlers or the web framework.
"""
