"""The PostgreSQL store (asyncpg): many runners on many hosts share one database."""
