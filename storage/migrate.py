"""Schema upgrades with Alembic, callable from the CLI and at start-up."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config

from storage.db import is_sqlite, make_sync_engine, sync_url

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(database_url).replace("%", "%%"))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    return config


def _migrate(database_url: str, step: Callable[[Config], None]) -> None:
    """Runs `step` in one transaction. On SQLite, Alembic's batch mode changes a table by
    copying it, and dropping the old copy of a table others refer to (enterprises) is refused
    while foreign keys are enforced: they are off for the migration (the pragma is ignored
    inside a transaction, so it is set before), and checked once it is done."""
    config = alembic_config(database_url)
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            if is_sqlite(database_url):
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()  # ends SQLAlchemy's autobegun transaction; sqlite began none
            with connection.begin():
                config.attributes["connection"] = connection
                step(config)
                if is_sqlite(database_url):
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration left rows pointing nowhere: {broken[:5]}")
    finally:
        engine.dispose()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Brings the schema to `revision`; a no-op when it is there already."""
    _migrate(database_url, lambda config: command.upgrade(config, revision))
    logger.info("Database schema is at %s", revision)


def downgrade(database_url: str, revision: str) -> None:
    """Takes the schema back to `revision` (an operator's way back from a failed release)."""
    _migrate(database_url, lambda config: command.downgrade(config, revision))
    logger.info("Database schema is back at %s", revision)
