"""The catalog's domain: jobs as in-memory objects, the catalogue's definitions (workflows and facilities), and
the pure state machine.

Nothing here does I/O or knows PostgreSQL, HTTP or AMQP; it depends on esap_messages and pydantic only
(and jsonschema, to check the catalogue's definitions: domain.schemas).
"""
