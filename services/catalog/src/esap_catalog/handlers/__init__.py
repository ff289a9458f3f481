"""The catalog's edges: internal HTTP routes and the bus consumer. Thin: parse, ask the factory, map.

Depends on services and the factory; never on storage directly.
"""
