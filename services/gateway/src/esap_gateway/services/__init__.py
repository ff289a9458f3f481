"""The gateway's behaviour: UWS request rules, job creation against the catalogue, phase changes, callbacks.

Depends on the adapters' ports (Protocols) and esap_messages; must not depend on FastAPI or aiohttp.
"""
