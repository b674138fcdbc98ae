"""Alembic's environment for the answer records: run by `qa.records.migrate.upgrade` with an open
connection (config.attributes["connection"]), or by the `alembic` command with sqlalchemy.url set."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from qa.records.models import Base

config = context.config


def _run(connection) -> None:
    # Batch mode: SQLite alters a table by copying it, and later migrations will alter tables.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    with create_engine(config.get_main_option("sqlalchemy.url")).connect() as conn:
        _run(conn)
else:
    _run(connection)
