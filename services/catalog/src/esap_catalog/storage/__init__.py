"""PostgreSQL storage of the catalog: migrations, SQL, and the conversions between rows and domain objects.

Rows never leave this package. Depends on asyncpg, the domain and esap_messages; never on services or handlers.
"""
