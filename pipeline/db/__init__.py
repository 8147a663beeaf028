"""The one database layer under every store (audit, review trail, accounts, jobs, UI sessions).

SQLite (a file, the embedded default) or PostgreSQL (`VERACITY_DATABASE_URL=postgresql://...`, shared
by several `veracity serve` replicas), chosen by `database_location(settings)`. Stores write SQL once,
in SQLite's calling convention (`?` placeholders, rows readable by name and position); the PostgreSQL
connection translates it. Each store keeps one list of versioned migrations that runs on both
back-ends (`Database.migrate`); named locks (`Database.lock`) are held in the database itself and
released when their holder dies.
"""

from pipeline.db.database import (
    Connection,
    Database,
    DatabaseError,
    Dialect,
    Migration,
    count_if,
    database_location,
    now,
    open_database,
)
from pipeline.db.locks import NamedLock, held_elsewhere

__all__ = [
    "Connection",
    "Database",
    "DatabaseError",
    "Dialect",
    "Migration",
    "NamedLock",
    "count_if",
    "database_location",
    "held_elsewhere",
    "now",
    "open_database",
]
