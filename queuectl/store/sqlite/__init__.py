"""The SQLite store (aiosqlite): the embedded default, one machine, zero set-up."""
