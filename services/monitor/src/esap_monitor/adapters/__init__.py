"""Adapters of the monitor: the catalog's internal HTTP API. Wire formats stop here."""
