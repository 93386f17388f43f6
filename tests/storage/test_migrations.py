from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.db import make_sync_engine
from storage.models import Base


def test_the_migrations_build_exactly_the_models(database_url: str) -> None:
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            # APScheduler's job store shares the database (its table appears once `run` has run).
            context = MigrationContext.configure(connection, opts={
                "include_name": lambda name, kind, _parent: not (kind == "table" and name == "apscheduler_jobs")})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
