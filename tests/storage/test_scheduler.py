"""The job store keeps the jobs and their next run times across a restart."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.scheduler import MISFIRE_GRACE_SECONDS, build_scheduler


async def test_jobs_survive_a_restart_with_their_next_run_times(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'jobs.db'}")
    first = build_scheduler(settings)
    first.start(paused=True)
    planned = {job.id: job.next_run_time for job in first.get_jobs()}
    first.shutdown(wait=False)

    second = build_scheduler(settings)  # the same fixed ids replace, not duplicate, the jobs
    second.start(paused=True)
    jobs = second.get_jobs()
    second.shutdown(wait=False)
    assert sorted(job.id for job in jobs) == ["outbox", "sweep"]
    assert {job.id: job.next_run_time for job in jobs}["sweep"] >= planned["sweep"]
    assert all(job.coalesce and job.misfire_grace_time == MISFIRE_GRACE_SECONDS for job in jobs)
