"""The gateway's ports to the outside: the catalog's internal HTTP API, the bus, UWS XML, result files.

Wire formats stop here; nothing in this package knows UWS rules.
"""
