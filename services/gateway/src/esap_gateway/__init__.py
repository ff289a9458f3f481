"""esap-batch gateway: the public HTTP edge (IVOA UWS 1.1 at ``/uws/jobs`` and the running job's callback).

It holds no database: it reads through the catalog's internal HTTP API and publishes commands on the bus.
"""
