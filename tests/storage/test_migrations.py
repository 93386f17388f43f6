from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.db import make_sync_engine
from storage.models import Base


def test_the_migrations_build_exactly_the_models(database_url: str) -> None:
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()
