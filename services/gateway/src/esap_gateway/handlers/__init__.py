"""The gateway's HTTP routes: thin, each parses, asks the factory's service, and maps the answer.

Depends on FastAPI, the factory and the services; must not hold a rule or call a client directly.
"""
