"""Adapters between the submitter and the outside: backends and the callback client, wrapped for metrics."""
