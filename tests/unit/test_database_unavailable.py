"""`storage.db.unavailable`: which errors mean "the database was away for a moment, send it again"
(the error handler's `common/db_unavailable`) and which are something else."""

from __future__ import annotations

import pytest
from sqlalchemy import exc

from storage.db import unavailable


def _dbapi(cls: type[exc.DBAPIError], *, invalidated: bool = False) -> exc.DBAPIError:
    return cls("SELECT 1", {}, Exception("server closed the connection unexpectedly"),
               connection_invalidated=invalidated)


def _raised_from(error: BaseException) -> BaseException:
    try:
        try:
            raise error
        except BaseException as inner:
            raise RuntimeError("handler failed") from inner
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize("error", [
    _dbapi(exc.OperationalError),  # connection refused, server closed the connection, SQLite locked
    _dbapi(exc.InterfaceError),  # connection already closed
    _dbapi(exc.DBAPIError, invalidated=True),  # any error the pool saw as a disconnect
    exc.TimeoutError("QueuePool limit reached"),
    _raised_from(_dbapi(exc.OperationalError)),
], ids=["operational", "interface", "invalidated", "pool-timeout", "as-a-cause"])
def test_a_database_that_went_away(error: BaseException) -> None:
    assert unavailable(error)


@pytest.mark.parametrize("error", [
    _dbapi(exc.IntegrityError), _dbapi(exc.ProgrammingError), _dbapi(exc.DBAPIError), ValueError("bug"), None,
], ids=["integrity", "programming", "plain-dbapi", "bug", "none"])
def test_other_errors_are_not_an_outage(error: BaseException | None) -> None:
    assert not unavailable(error)
