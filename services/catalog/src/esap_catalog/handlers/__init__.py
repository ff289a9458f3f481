"""The catalog's edges: internal HTTP routes and the bus consumer. Thin: parse, ask the factory, map.

Depends on services and the factory; on storage only for its outage classification and the search queries' value
types.
"""
