"""Bring a records database to the newest schema with Alembic, run from Python: the migrations ship
inside this package (qa/records/migrations), so an installed wheel migrates its own database."""
from __future__ import annotations

import fcntl
import logging
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def head() -> str:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Upgrade to the newest revision (a no-op when there already); returns it. Several worker
    processes starting at once take turns on a lock file beside a SQLite database."""
    with _lock(engine):
        before = current(engine)
        if before == head():
            return before
        config = alembic_config(engine)
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        log.info("records database upgraded from %s to %s", before or "empty", head())
        return head()


@contextmanager
def _lock(engine: Engine):
    path = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not path or path == ":memory:":
        yield  # PostgreSQL: start one worker first, or run the upgrade before starting several
        return
    with open(f"{path}.migrate-lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
